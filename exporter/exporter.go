package exporter

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/promfile"
)

// Options for one exporter.
type Options struct {
	Thresholds health.Thresholds
	// Connection is how advice reaches this cluster ("--endpoints ...").
	Connection string
	// MinInterval: scrapes closer together than this are served the last
	// result, so a Prometheus HA pair (or a curl loop) does not double the
	// load on etcd.
	MinInterval time.Duration
	// Deadline bounds one run of the checks. A hung member makes its own
	// series unknown at the deadline; the scrape still answers.
	Deadline time.Duration
	// GrowthWindow is how far back the DB growth rate behind the quota ETA looks.
	GrowthWindow time.Duration
	SnapshotDir  string
	Log          *slog.Logger
}

// Exporter runs the cheap checks (health.Assess of one fresh sample, with a
// read per member) when scraped.
type Exporter struct {
	c *cluster.Cluster
	o Options

	self     *prometheus.Registry
	duration prometheus.Gauge
	errors   prometheus.Counter

	mu      sync.Mutex // one run of the checks at a time; later scrapes wait for it
	last    *promfile.Set
	lastAt  time.Time
	prev    *cluster.Sample
	history map[uint64][]sizeAt
}

type sizeAt struct {
	at   time.Time
	size int64
}

// New builds an exporter over an open cluster.
func New(c *cluster.Cluster, o Options) *Exporter {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.GrowthWindow == 0 {
		o.GrowthWindow = time.Hour
	}
	e := &Exporter{c: c, o: o, self: prometheus.NewRegistry(), history: map[uint64][]sizeAt{}}
	e.duration = prometheus.NewGauge(prometheus.GaugeOpts{Name: ScrapeDuration, Help: ChecksDurationHelp})
	e.errors = prometheus.NewCounter(prometheus.CounterOpts{Name: ScrapeErrors,
		Help: "Runs of the checks that could not finish: no member list, or the deadline passed."})
	e.self.MustRegister(e.duration, e.errors, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return e
}

// Gather returns the series of a run of the checks no older than
// MinInterval, running them when needed, plus the exporter's own.
func (e *Exporter) Gather(ctx context.Context) prometheus.Gatherer {
	return prometheus.Gatherers{e.self, e.refresh(ctx).Registry()}
}

func (e *Exporter) refresh(ctx context.Context) *promfile.Set {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.last != nil && time.Since(e.lastAt) < e.o.MinInterval {
		return e.last
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, e.o.Deadline)
	defer cancel()
	in, ok := e.check(ctx)
	in.Now, in.SnapshotDir = start, e.o.SnapshotDir
	if !ok || ctx.Err() != nil {
		e.errors.Inc()
	}
	e.last, e.lastAt = Build(in), start
	e.duration.Set(time.Since(start).Seconds())
	return e.last
}

// check takes one sample and judges it. Members and Probe are each bounded
// by --command-timeout and together by the deadline.
func (e *Exporter) check(ctx context.Context) (Input, bool) {
	ms, err := e.c.Members(ctx)
	if err != nil {
		e.o.Log.Warn("exporter: no member list", "err", err)
		return Input{Findings: []health.Finding{{ID: "members.list", Severity: health.Unknown, Observed: err.Error(),
			Explanation: "no endpoint answered the member list"}}}, false
	}
	var snap *cluster.Sample
	var reads map[uint64]health.ReadResult
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); snap = e.c.Probe(ctx, ms, cluster.ProbeOptions{}) }()
	go func() { defer wg.Done(); reads = health.ReadEach(ctx, e.c, ms) }()
	wg.Wait()
	prev := e.prev
	if prev != nil && !sameMembers(prev, snap) {
		prev = nil
	}
	fs := health.Assess(snap, health.SampleOptions{Thresholds: e.o.Thresholds, Connection: e.o.Connection, Reads: reads, Previous: prev})
	e.prev = snap
	return Input{Findings: fs, Sample: snap, Growth: e.growth(snap)}, true
}

// growth records each answering member's DB size and returns the rate over
// the samples within GrowthWindow. A shrink (a defragmentation) starts the
// member's history again: the rate is of growth, not of the defrag.
func (e *Exporter) growth(snap *cluster.Sample) map[uint64]float64 {
	out := map[uint64]float64{}
	seen := map[uint64]bool{}
	for _, st := range snap.Members {
		id := st.Member.ID
		seen[id] = true
		if !st.OK() {
			continue
		}
		size := st.Status.GetDbSize()
		h := e.history[id]
		if n := len(h); n > 0 && size < h[n-1].size {
			h = nil
		}
		h = append(h, sizeAt{snap.At, size})
		for len(h) > 2 && snap.At.Sub(h[1].at) >= e.o.GrowthWindow {
			h = h[1:]
		}
		// A fresh slice now and then, so the trimmed head is not kept alive.
		if cap(h) > 4*len(h)+16 {
			h = append([]sizeAt(nil), h...)
		}
		e.history[id] = h
		if first, last := h[0], h[len(h)-1]; last.at.After(first.at) {
			out[id] = float64(last.size-first.size) / last.at.Sub(first.at).Seconds()
		}
	}
	for id := range e.history {
		if !seen[id] {
			delete(e.history, id)
		}
	}
	return out
}

func sameMembers(a, b *cluster.Sample) bool {
	if len(a.Members) != len(b.Members) {
		return false
	}
	for i := range a.Members {
		if a.Members[i].Member.ID != b.Members[i].Member.ID {
			return false
		}
	}
	return true
}

// ServeHTTP answers a scrape in the text format. Each scrape's checks are
// bounded by the deadline; a client that goes away cancels them.
func (e *Exporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := e.Gather(r.Context())
	w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	if err := promfile.Encode(w, g); err != nil {
		e.o.Log.Error("exporter: encode", "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// Handler serves /metrics, and a short page at / that points to it.
func (e *Exporter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", e)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "etcdmedic exporter: series at /metrics")
	})
	return mux
}
