package cluster

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// layoutRoot copies testdata/layouts/<name> into a temp root and creates the
// given files (paths as the node sees them) with placeholder content.
func layoutRoot(t *testing.T, name string, files ...string) string {
	t.Helper()
	root := t.TempDir()
	if name != "" {
		copyTree(t, filepath.Join("testdata", "layouts", name), root)
	}
	for _, f := range files {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func resolveUnder(t *testing.T, root string) *Config {
	t.Helper()
	cfg, err := Resolve(Inputs{Getenv: env(map[string]string{RootEnv: root})})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func wantConfig(t *testing.T, cfg *Config, layout string, endpoints []string, cacert, cert, key, metrics string) {
	t.Helper()
	if cfg.Layout != layout {
		t.Errorf("layout = %q, want %q", cfg.Layout, layout)
	}
	if !slices.Equal(cfg.Endpoints, endpoints) {
		t.Errorf("endpoints = %v, want %v", cfg.Endpoints, endpoints)
	}
	if cfg.CACert != cacert || cfg.Cert != cert || cfg.Key != key {
		t.Errorf("certs = %q %q %q, want %q %q %q", cfg.CACert, cfg.Cert, cfg.Key, cacert, cert, key)
	}
	if cfg.Local == nil || cfg.Local.MetricsURL != metrics {
		t.Errorf("metrics url = %+v, want %q", cfg.Local, metrics)
	}
	if d := strings.Join(cfg.Describe(), "\n"); !strings.Contains(d, "layout="+layout+" (") {
		t.Errorf("-v does not name the layout %q:\n%s", layout, d)
	}
}

func TestDiscoverRKE2(t *testing.T) {
	tls := "/var/lib/rancher/rke2/server/tls/etcd/"
	root := layoutRoot(t, "rke2", tls+"server-ca.crt", tls+"client.crt", tls+"client.key", tls+"server-client.crt", tls+"server-client.key")
	cfg := resolveUnder(t, root)
	// client.crt is what k3s/RKE2 dial their own etcd with; it wins over the
	// server's client pair. 2381 is plain HTTP metrics: the client port
	// serves gRPC only because listen-client-http-urls is set.
	wantConfig(t, cfg, "rke2", []string{"https://127.0.0.1:2379", "https://10.0.0.31:2379"},
		root+tls+"server-ca.crt", root+tls+"client.crt", root+tls+"client.key", "http://127.0.0.1:2381/metrics")
	if cfg.Local.Name != "cp-rke2-1-3f9c1d2a" || cfg.Local.Flags["data-dir"] != root+"/var/lib/rancher/rke2/server/db/etcd" {
		t.Errorf("config file not read: %+v", cfg.Local)
	}
}

func TestDiscoverRKE2OnlyServerClientCert(t *testing.T) {
	tls := "/var/lib/rancher/rke2/server/tls/etcd/"
	root := layoutRoot(t, "rke2", tls+"server-ca.crt", tls+"server-client.crt", tls+"server-client.key")
	cfg := resolveUnder(t, root)
	if cfg.Cert != root+tls+"server-client.crt" || cfg.Key != root+tls+"server-client.key" {
		t.Fatalf("cert = %q key = %q, want the server-client pair", cfg.Cert, cfg.Key)
	}
}

func TestDiscoverRKE2DataDirFromConfig(t *testing.T) {
	src := layoutRoot(t, "rke2")
	root := t.TempDir()
	copyTree(t, filepath.Join(src, "var/lib/rancher/rke2"), filepath.Join(root, "srv/rke2"))
	manifest := filepath.Join(root, "srv/rke2/agent/pod-manifests/etcd.yaml")
	for _, f := range []string{manifest, filepath.Join(root, "srv/rke2/server/db/etcd/config")} {
		b, _ := os.ReadFile(f)
		os.WriteFile(f, []byte(strings.ReplaceAll(string(b), "/var/lib/rancher/rke2", "/srv/rke2")), 0o600)
	}
	os.MkdirAll(filepath.Join(root, "etc/rancher/rke2"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/rancher/rke2/config.yaml"), []byte("data-dir: /srv/rke2\ntoken: secret\n"), 0o600)
	cfg := resolveUnder(t, root)
	if cfg.Layout != "rke2" || cfg.Local.Manifest != manifest {
		t.Fatalf("data-dir from /etc/rancher/rke2/config.yaml not followed: layout %q, %+v", cfg.Layout, cfg.Local)
	}
	if want := root + "/srv/rke2/server/tls/etcd/server-ca.crt"; cfg.CACert != want {
		t.Fatalf("cacert = %q, want %q", cfg.CACert, want)
	}
}

func TestDiscoverK3sEmbeddedEtcd(t *testing.T) {
	tls := "/var/lib/rancher/k3s/server/tls/etcd/"
	root := layoutRoot(t, "k3s", tls+"server-ca.crt", tls+"client.crt", tls+"client.key")
	cfg := resolveUnder(t, root)
	wantConfig(t, cfg, "k3s", []string{"https://127.0.0.1:2379", "https://10.0.0.31:2379"},
		root+tls+"server-ca.crt", root+tls+"client.crt", root+tls+"client.key", "http://127.0.0.1:2381/metrics")
	// No static pod: nothing to pass back as --manifest in next steps.
	if cfg.Local.Manifest != "" || len(cfg.ConnectionArgs()) != 0 {
		t.Fatalf("k3s has no manifest, got %q, args %v", cfg.Local.Manifest, cfg.ConnectionArgs())
	}
}

func TestDiscoverK3sWALWithoutConfig(t *testing.T) {
	tls := "/var/lib/rancher/k3s/server/tls/etcd/"
	root := layoutRoot(t, "", tls+"server-ca.crt", tls+"client.crt", tls+"client.key")
	os.MkdirAll(filepath.Join(root, "var/lib/rancher/k3s/server/db/etcd/member/wal"), 0o700)
	cfg := resolveUnder(t, root)
	wantConfig(t, cfg, "k3s", []string{"https://127.0.0.1:2379"},
		root+tls+"server-ca.crt", root+tls+"client.crt", root+tls+"client.key", "http://127.0.0.1:2381/metrics")
}

// k3s's default datastore is SQLite: its certificates exist, etcd does not.
func TestDiscoverK3sSQLiteIsNotEtcd(t *testing.T) {
	tls := "/var/lib/rancher/k3s/server/tls/etcd/"
	root := layoutRoot(t, "", tls+"server-ca.crt", tls+"client.crt", tls+"client.key", "/var/lib/rancher/k3s/server/db/state.db")
	cfg := resolveUnder(t, root)
	if !strings.HasPrefix(cfg.Layout, "none (no kubeadm, rke2, k3s, openshift etcd found under "+root) || cfg.Endpoints[0] != "http://127.0.0.1:2379" || cfg.CACert != "" {
		t.Fatalf("a k3s node on SQLite matched: layout %q endpoints %v cacert %q", cfg.Layout, cfg.Endpoints, cfg.CACert)
	}
}

func TestDiscoverOpenShift(t *testing.T) {
	certs := "/etc/kubernetes/static-pod-resources/etcd-certs/"
	ca := certs + "configmaps/etcd-all-bundles/server-ca-bundle.crt"
	crt, key := certs+"secrets/etcd-all-certs/etcd-peer-master-0.crt", certs+"secrets/etcd-all-certs/etcd-peer-master-0.key"
	root := layoutRoot(t, "openshift", ca, crt, key)
	cfg := resolveUnder(t, root)
	// The listener on 0.0.0.0 is dialled on loopback first; the advertised
	// URL is a shell variable, so the members come from ETCDCTL_ENDPOINTS.
	// Metrics: 9978 trusts only the metrics CA, the client HTTP port
	// takes the client certificate.
	wantConfig(t, cfg, "openshift",
		[]string{"https://127.0.0.1:2379", "https://10.0.0.21:2379", "https://10.0.0.22:2379", "https://10.0.0.23:2379"},
		root+ca, root+crt, root+key, "https://127.0.0.1:2381/metrics")
	if cfg.Local.Flags["trusted-ca-file"] != root+ca || cfg.Local.Flags["feature-gates"] != "InitialCorruptCheck=true" {
		t.Fatalf("flags from the pod's script not mapped to the host: %v", cfg.Local.Flags)
	}
	// The next steps etcdmedic prints carry --manifest etcd-pod.yaml; read
	// that way it must reach the same member with the same certificates.
	again, err := Resolve(Inputs{Manifest: cfg.Local.Manifest, Set: setOf("manifest"), Getenv: env(map[string]string{RootEnv: root})})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.Endpoints, cfg.Endpoints) || again.CACert != cfg.CACert || again.Cert != cfg.Cert || again.Layout != "manifest" {
		t.Fatalf("--manifest etcd-pod.yaml: %+v, want the discovered %+v", again, cfg)
	}
	if args := cfg.ConnectionArgs(); !slices.Equal(args, []string{"--manifest", cfg.Local.Manifest}) {
		t.Fatalf("next steps carry %v", args)
	}
}

// kubeadm's manifest is checked first: a node that has both (a migration
// left an RKE2 tree behind) is a kubeadm node.
func TestDiscoverOrderKubeadmFirst(t *testing.T) {
	tls := "/var/lib/rancher/rke2/server/tls/etcd/"
	root := layoutRoot(t, "rke2", tls+"server-ca.crt", tls+"client.crt", tls+"client.key")
	kube, _ := os.ReadFile("testdata/kubeadm/etcd.yaml")
	p := filepath.Join(root, DefaultManifest)
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte(strings.ReplaceAll(string(kube), "PKI/", "/etc/kubernetes/pki/")), 0o600)
	cfg := resolveUnder(t, root)
	if cfg.Layout != "kubeadm" || cfg.CACert != root+"/etc/kubernetes/pki/etcd/ca.crt" {
		t.Fatalf("layout %q cacert %q, want kubeadm's under the root", cfg.Layout, cfg.CACert)
	}
	// An explicit --manifest is read whatever else is on the node.
	cfg, err := Resolve(Inputs{Manifest: filepath.Join(root, "var/lib/rancher/rke2/agent/pod-manifests/etcd.yaml"), Set: setOf("manifest"), Getenv: env(map[string]string{RootEnv: root})})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Layout != "manifest" || cfg.Local.Name != "cp-rke2-1-3f9c1d2a" {
		t.Fatalf("--manifest of an RKE2 pod: layout %q, %+v", cfg.Layout, cfg.Local)
	}
}

// A layout that is there but unreadable stops discovery: falling through to
// the next layout or the default endpoint could reach some other etcd.
func TestDiscoverBrokenLayoutIsAnError(t *testing.T) {
	root := layoutRoot(t, "rke2")
	os.Remove(filepath.Join(root, "var/lib/rancher/rke2/server/db/etcd/config"))
	_, err := Resolve(Inputs{Getenv: env(map[string]string{RootEnv: root})})
	if err == nil || !strings.Contains(err.Error(), "rke2 discovery") || !strings.Contains(err.Error(), "server/db/etcd/config") {
		t.Fatalf("err = %v, want an rke2 discovery error naming the config file", err)
	}
}
