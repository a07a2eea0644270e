package cluster

import (
	"context"
	"net/url"
	"slices"
)

// A scrape costs the member a few milliseconds of gathering before its first
// byte, and its URL is known before the member list arrives whenever the
// member will be reached on an endpoint the user gave (or on the local
// member's metrics listener). Started beside the connections and the member
// list, it is no longer the last thing a status waits for.

// prefetched is one scrape started before the member list.
type prefetched struct {
	families []string // as ProbeMember asks for them: only a probe asking for the same takes it
	cancel   context.CancelFunc
	done     chan struct{}
	sample   *MetricsSample
	err      error
}

// wait returns the scrape's result; when ctx ends first the scrape is
// cancelled and its (context) error returned, as a scrape of ProbeMember's
// own would.
func (p *prefetched) wait(ctx context.Context) (*MetricsSample, error) {
	select {
	case <-p.done:
	case <-ctx.Done():
		p.cancel()
		<-p.done
	}
	return p.sample, p.err
}

// PrefetchMetrics starts, now, the scrapes a Probe with these options will
// make of the members reached on the configured endpoints; ProbeMember takes
// a prefetched scrape of its member's MetricsURL instead of starting one.
// Each is bounded by --command-timeout from now. A scrape no probe takes (an
// endpoint that is not how its member is reached: the member list names
// another of its URLs) is cancelled by Close; it cost that member one scrape.
func (c *Cluster) PrefetchMetrics(ctx context.Context, opts ProbeOptions) {
	if opts.SkipMetrics {
		return
	}
	fams := probeFamilies(opts)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.prefetch == nil {
		c.prefetch = map[string]*prefetched{}
	}
	for _, u := range c.prefetchURLs() {
		if _, ok := c.prefetch[u]; ok {
			continue
		}
		sctx, cancel := c.WithCommandTimeout(ctx)
		p := &prefetched{families: fams, cancel: cancel, done: make(chan struct{})}
		c.prefetch[u] = p
		go func() {
			defer close(p.done)
			defer cancel()
			p.sample, p.err = ScrapeMetricsFamilies(sctx, c.http, u, fams)
		}()
	}
}

// prefetchURLs are the metrics URLs metricsURLFor gives a member whose
// endpoint is one of the configured ones, as far as that is known before the
// member list: a local member matched by name rather than URL is not.
func (c *Cluster) prefetchURLs() []string {
	var out []string
	for _, ep := range c.Config.Endpoints {
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || isReservedInvalid(u.Hostname()) {
			continue
		}
		mu := c.metricsURLFor(Member{Endpoint: ep, ClientURLs: []string{ep}})
		if mu != "" && !slices.Contains(out, mu) {
			out = append(out, mu)
		}
	}
	return out
}

// takePrefetch hands out the prefetched scrape of url once, if it parses the
// families this probe asks for.
func (c *Cluster) takePrefetch(url string, families []string) *prefetched {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.prefetch[url]
	if !ok || !slices.Equal(p.families, families) {
		return nil
	}
	delete(c.prefetch, url)
	return p
}

// stopPrefetches cancels the scrapes no probe took. c.mu is held.
func (c *Cluster) stopPrefetches() {
	for u, p := range c.prefetch {
		p.cancel()
		delete(c.prefetch, u)
	}
}
