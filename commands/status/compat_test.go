package status_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// The client linked into etcdmedic (3.7) must read clusters of every
// supported server line. Quota: 3.5 servers do not report it in Status, so it
// must come from the metric; 3.6+ report it.
func TestStatusCompatibilityMatrix(t *testing.T) {
	bins := playgroundtest.ReleaseBinaries(t)
	versions := make([]string, 0, len(bins))
	for v := range bins {
		versions = append(versions, v)
	}
	sort.Strings(versions)
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			c := playgroundtest.Start(t, playground.Options{Members: 3, EtcdBinary: bins[v].Etcd, QuotaBytes: 256 << 20})
			res := clitest.Run(t, nil, "status", "-o", "json", "--endpoints", endpoints(c))
			if res.Code != 0 {
				t.Fatalf("exit %d", res.Code)
			}
			r := decode(t, res.Stdout)
			if len(r.Members) != 3 {
				t.Fatalf("%d members", len(r.Members))
			}
			for _, m := range r.Members {
				if "v"+m.Version != v {
					t.Fatalf("member %s reports version %s, want %s", m.Name, m.Version, v)
				}
				if m.Quota != 256<<20 {
					t.Fatalf("member %s: quota %d from %s, want 256 MiB", m.Name, m.Quota, m.QuotaSource)
				}
				wantSource := cluster.QuotaFromStatus
				if strings.HasPrefix(v, "v3.5.") {
					wantSource = cluster.QuotaFromMetrics
				}
				if m.QuotaSource != wantSource {
					t.Fatalf("member %s on %s: quota source %s, want %s", m.Name, v, m.QuotaSource, wantSource)
				}
				if m.WALFsyncP99Seconds == nil {
					t.Fatalf("member %s: no fsync p99", m.Name)
				}
			}
		})
	}
}
