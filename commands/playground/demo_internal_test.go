package playground

import (
	"slices"
	"testing"
)

// The demo's "keep a cluster running" line starts one like the demo's:
// a --tls demo suggested a plain-HTTP cluster, and its exports pointed at
// certificates the demo had removed.
func TestDemoSuggestsALikeCluster(t *testing.T) {
	o := NewOptions(nil)
	if got := o.sameClusterArgs(); len(got) != 0 {
		t.Fatalf("defaults: %q, want no flags", got)
	}
	o.Members, o.BasePort, o.QuotaBytes, o.TLS, o.EtcdBinary, o.DataDir = 1, 0, 16<<20, true, "/opt/etcd/etcd", "/tmp/pg"
	want := []string{"--members", "1", "--base-port", "0", "--quota-bytes", "16777216", "--tls", "--etcd-binary", "/opt/etcd/etcd"}
	if got := o.sameClusterArgs(); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
