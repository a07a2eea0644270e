package cluster

import (
	"os"
	"path/filepath"
	"testing"
)

func TestK3sAPIServerFlags(t *testing.T) {
	root := t.TempDir()
	write := func(rel, body string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	flags, source, err := K3sAPIServerFlags(root)
	if err != nil || flags == nil || len(flags) != 0 {
		t.Fatalf("no config: %v %v; want no flags and no error", flags, err)
	}
	write("etc/rancher/k3s/config.yaml", "cluster-init: true\nkube-apiserver-arg:\n  - etcd-compaction-interval=10m\n  - --audit-log-maxage=30\n")
	flags, source, err = K3sAPIServerFlags(root)
	if err != nil || flags["etcd-compaction-interval"] != "10m" || flags["audit-log-maxage"] != "30" {
		t.Fatalf("list: %v %v", flags, err)
	}
	if want := filepath.Join(root, "etc/rancher/k3s/config.yaml") + " (kube-apiserver-arg)"; source != want {
		t.Errorf("source %q, want %q", source, want)
	}
	// A drop-in's "+" appends (a later value wins); a plain key replaces.
	write("etc/rancher/k3s/config.yaml.d/10-compaction.yaml", "kube-apiserver-arg+: etcd-compaction-interval=0\n")
	if flags, _, err = K3sAPIServerFlags(root); err != nil || flags["etcd-compaction-interval"] != "0" || flags["audit-log-maxage"] != "30" {
		t.Fatalf("appended drop-in: %v %v", flags, err)
	}
	write("etc/rancher/k3s/config.yaml.d/20-replace.yaml", "kube-apiserver-arg: [\"event-ttl=2h\"]\n")
	if flags, _, err = K3sAPIServerFlags(root); err != nil || len(flags) != 1 || flags["event-ttl"] != "2h" {
		t.Fatalf("replacing drop-in: %v %v", flags, err)
	}
	write("etc/rancher/k3s/config.yaml.d/30-bad.yaml", "kube-apiserver-arg: {a: 1}\n")
	if _, _, err = K3sAPIServerFlags(root); err == nil {
		t.Fatal("a map for kube-apiserver-arg was accepted")
	}
}
