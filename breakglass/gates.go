package breakglass

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/etcdmedic/etcdmedic/cluster"
)

func marshalPod(p *corev1.Pod) ([]byte, error) { return yaml.Marshal(p) }

// EtcdThresholds gate a ramp step on etcd's health.
type EtcdThresholds struct {
	FsyncP99            float64 // seconds; default 0.1
	ApplyGap            uint64  // committed − applied entries; default 1000
	AllowMetricsMissing bool
}

// EtcdGate passes when every voter answers Status with no alarm, its WAL
// fsync p99 and commit→apply gap under the thresholds.
func EtcdGate(c *cluster.Cluster, t EtcdThresholds) func(context.Context) error {
	if t.FsyncP99 <= 0 {
		t.FsyncP99 = 0.1
	}
	if t.ApplyGap == 0 {
		t.ApplyGap = 1000
	}
	return func(ctx context.Context) error {
		ms, err := c.Members(ctx)
		if err != nil {
			return fmt.Errorf("etcd: %w", err)
		}
		snap := c.Probe(ctx, ms, cluster.ProbeOptions{})
		if v := snap.Verdict(); v.QuorumLost || len(v.Alarms) > 0 {
			return fmt.Errorf("etcd: %s", strings.Join(v.Reasons, "; "))
		}
		for _, st := range snap.Members {
			if !st.OK() {
				return fmt.Errorf("etcd member %s: %v", st.Member.Label(), st.Err)
			}
			if gap := st.ApplyLag(); gap > t.ApplyGap {
				return fmt.Errorf("etcd member %s: commit→apply gap %d > %d", st.Member.Label(), gap, t.ApplyGap)
			}
			p99, ok := st.WALFsyncP99()
			if !ok && !t.AllowMetricsMissing {
				return fmt.Errorf("etcd member %s: fsync p99 unknown (metrics: %v)", st.Member.Label(), st.MetricsErr)
			}
			if ok && p99 > t.FsyncP99 {
				return fmt.Errorf("etcd member %s: WAL fsync p99 %.3fs > %.3fs", st.Member.Label(), p99, t.FsyncP99)
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
