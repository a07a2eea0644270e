package breakglass

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/health"
)

func marshalPod(p *corev1.Pod) ([]byte, error) { return yaml.Marshal(p) }

// EtcdThresholds gate a ramp step on etcd's health: health's thresholds
// (the default preset when zero), with the ramp's own two flags on top.
type EtcdThresholds struct {
	Thresholds health.Thresholds
	FsyncP99   float64 // seconds; > 0 replaces the critical WAL fsync p99
	ApplyGap   uint64  // entries; > 0 replaces applyGap.warn
	// AllowMetricsMissing lets a step pass when a member's fsync latency
	// cannot be read (no /metrics); otherwise that is a failed gate.
	AllowMetricsMissing bool
}

func (t EtcdThresholds) resolve() health.Thresholds {
	th := t.Thresholds
	if th == (health.Thresholds{}) {
		th, _ = health.Preset(health.DefaultPreset)
	}
	if t.FsyncP99 > 0 {
		th.FsyncCrit = time.Duration(t.FsyncP99 * float64(time.Second))
		th.FsyncWarn = min(th.FsyncWarn, th.FsyncCrit)
	}
	if t.ApplyGap > 0 {
		th.ApplyGapWarn = t.ApplyGap
		th.ApplyGapCrit = max(th.ApplyGapCrit, t.ApplyGap)
	}
	return th
}

// EtcdGate passes when health's Ramp gate passes on a fresh sample: every
// voter answers with no alarm and one leader, the commit→apply gap is under
// its warning level, and no check is critical — WAL fsync p99 judged on the
// interval since the previous call (over the members' lifetime the first
// time), so a step is judged by what it did.
func EtcdGate(c *cluster.Cluster, t EtcdThresholds) func(context.Context) error {
	th := t.resolve()
	var mu sync.Mutex
	var prev *cluster.Sample
	return func(ctx context.Context) error {
		ms, err := c.Members(ctx)
		if err != nil {
			return fmt.Errorf("etcd: %w", err)
		}
		snap := c.Probe(ctx, ms, cluster.ProbeOptions{})
		mu.Lock()
		before := prev
		prev = snap
		mu.Unlock()
		fs := health.Assess(snap, health.SampleOptions{Thresholds: th, Previous: before, LifetimeLatency: before == nil})
		if r := health.Ramp.Check(snap, fs); r != nil {
			return fmt.Errorf("etcd: %s", r)
		}
		if !t.AllowMetricsMissing {
			for _, st := range snap.Members {
				if st.OK() && st.Metrics == nil {
					return fmt.Errorf("etcd member %s: fsync p99 unknown (metrics: %v)", st.Member.Label(), st.MetricsErr)
				}
			}
		}
		return nil
	}
}

// ReadyzGate passes when GET url answers 200 "ok" within timeout.
func ReadyzGate(hc *http.Client, url string, timeout time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("apiserver %s: %w", url, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("apiserver %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	}
}

// AllGates passes when every gate passes, checked in order.
func AllGates(gates ...func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		for _, g := range gates {
			if err := g(ctx); err != nil {
				return err
			}
		}
		return nil
	}
}
