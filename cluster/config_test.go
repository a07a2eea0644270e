package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kubeadmRoot copies the fixture manifest into a temp dir, pointing its
// certificate paths at a pki tree there, and creates the client cert files
// named in want ("healthcheck" and/or "apiserver").
func kubeadmRoot(t *testing.T, clientCerts ...string) (manifest, pki string) {
	t.Helper()
	root := t.TempDir()
	pki = filepath.Join(root, "pki")
	if err := os.MkdirAll(filepath.Join(pki, "etcd"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range clientCerts {
		var base string
		switch c {
		case "healthcheck":
			base = filepath.Join(pki, "etcd", "healthcheck-client")
		case "apiserver":
			base = filepath.Join(pki, "apiserver-etcd-client")
		}
		for _, ext := range []string{".crt", ".key"} {
			if err := os.WriteFile(base+ext, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	data, err := os.ReadFile("testdata/kubeadm/etcd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	manifest = filepath.Join(root, "manifests", "etcd.yaml")
	if err := os.MkdirAll(filepath.Dir(manifest), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manifest, []byte(strings.ReplaceAll(string(data), "PKI/", pki+"/")), 0o600); err != nil {
		t.Fatal(err)
	}
	return manifest, pki
}

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func setOf(names ...string) func(string) bool {
	return func(n string) bool {
		for _, x := range names {
			if x == n {
				return true
			}
		}
		return false
	}
}

func TestKubeadmDiscovery(t *testing.T) {
	manifest, pki := kubeadmRoot(t, "healthcheck", "apiserver")
	cfg, err := Resolve(Inputs{Manifest: manifest, Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	// The loopback listener comes first: it works even if the node IP changed.
	if got := strings.Join(cfg.Endpoints, ","); got != "https://127.0.0.1:2379,https://10.0.0.11:2379" {
		t.Fatalf("endpoints = %s", got)
	}
	if cfg.CACert != filepath.Join(pki, "etcd", "ca.crt") {
		t.Fatalf("cacert = %s", cfg.CACert)
	}
	if cfg.Cert != filepath.Join(pki, "etcd", "healthcheck-client.crt") || cfg.Key != filepath.Join(pki, "etcd", "healthcheck-client.key") {
		t.Fatalf("client cert = %s / %s, want the healthcheck client", cfg.Cert, cfg.Key)
	}
	if cfg.Local == nil || cfg.Local.MetricsURL != "http://127.0.0.1:2381/metrics" || cfg.Local.Name != "cp-1" {
		t.Fatalf("local member = %+v", cfg.Local)
	}
	if !strings.HasPrefix(cfg.Sources["endpoints"], "kubeadm manifest ") {
		t.Fatalf("endpoint source = %q", cfg.Sources["endpoints"])
	}
}

func TestKubeadmFallsBackToAPIServerClientCert(t *testing.T) {
	manifest, pki := kubeadmRoot(t, "apiserver")
	cfg, err := Resolve(Inputs{Manifest: manifest, Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cert != filepath.Join(pki, "apiserver-etcd-client.crt") {
		t.Fatalf("cert = %s, want the apiserver-etcd-client fallback", cfg.Cert)
	}
}

func TestPrecedenceFlagOverEnvOverKubeadm(t *testing.T) {
	manifest, _ := kubeadmRoot(t, "healthcheck")
	e := env(map[string]string{
		"ETCDCTL_ENDPOINTS": "https://env-host:2379",
		"ETCDCTL_CACERT":    "/env/ca.crt",
		"ETCDCTL_CERT":      "/env/c.crt",
		"ETCDCTL_KEY":       "/env/c.key",
	})

	// env beats kubeadm: discovery is not even attempted once endpoints are known.
	cfg, err := Resolve(Inputs{Manifest: manifest, Getenv: e})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Endpoints[0] != "https://env-host:2379" || cfg.CACert != "/env/ca.crt" || cfg.Local != nil {
		t.Fatalf("env did not win over kubeadm: %+v", cfg)
	}
	if cfg.Sources["endpoints"] != "env ETCDCTL_ENDPOINTS" {
		t.Fatalf("source = %q", cfg.Sources["endpoints"])
	}

	// flag beats env.
	cfg, err = Resolve(Inputs{
		Endpoints: []string{"flag-host:2379"}, CACert: "/flag/ca.crt",
		Manifest: manifest, Getenv: e, Set: setOf("endpoints", "cacert"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Endpoints[0] != "https://flag-host:2379" || cfg.CACert != "/flag/ca.crt" || cfg.Cert != "/env/c.crt" {
		t.Fatalf("flag did not win over env: %+v", cfg)
	}
	if cfg.Sources["cacert"] != "flag --cacert" || cfg.Sources["cert"] != "env ETCDCTL_CERT" {
		t.Fatalf("sources = %v", cfg.Sources)
	}

	// Only the certificates given by neither flag nor env come from kubeadm.
	cfg, err = Resolve(Inputs{CACert: "/flag/ca.crt", Manifest: manifest, Getenv: env(nil), Set: setOf("cacert")})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CACert != "/flag/ca.crt" || !strings.HasSuffix(cfg.Cert, "healthcheck-client.crt") || cfg.Local == nil {
		t.Fatalf("kubeadm should fill only the unset settings: %+v", cfg)
	}
}

func TestDefaultEndpointWithoutManifest(t *testing.T) {
	cfg, err := Resolve(Inputs{Manifest: filepath.Join(t.TempDir(), "absent.yaml"), Getenv: env(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Endpoints[0] != "http://127.0.0.1:2379" || cfg.Sources["endpoints"] != "default" {
		t.Fatalf("endpoints = %v (%s)", cfg.Endpoints, cfg.Sources["endpoints"])
	}
	if cfg.DialTimeout != DefaultDialTimeout || cfg.CommandTimeout != DefaultCommandTimeout {
		t.Fatalf("timeouts = %s/%s", cfg.DialTimeout, cfg.CommandTimeout)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	notPod := filepath.Join(dir, "cm.yaml")
	os.WriteFile(notPod, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"), 0o600)
	cases := []struct {
		name string
		in   Inputs
		want string
	}{
		{"malformed endpoint", Inputs{Endpoints: []string{"http://10.0.0.1:99999"}, Set: setOf("endpoints")}, "port"},
		{"endpoint with path", Inputs{Endpoints: []string{"http://10.0.0.1:2379/v3"}, Set: setOf("endpoints")}, "no path"},
		{"bad scheme", Inputs{Endpoints: []string{"ftp://h:1"}, Set: setOf("endpoints")}, "scheme"},
		{"missing port", Inputs{Endpoints: []string{"http://h"}, Set: setOf("endpoints")}, "host:port"},
		{"explicit manifest missing", Inputs{Manifest: filepath.Join(dir, "nope.yaml"), Set: setOf("manifest")}, "kubeadm discovery"},
		{"manifest not a pod", Inputs{Manifest: notPod, Set: setOf("manifest")}, "not a Pod"},
		{"cert without key", Inputs{Endpoints: []string{"h:1"}, Cert: "/c.crt", Set: setOf("endpoints", "cert")}, "--cert and --key go together"},
		{"bad env duration", Inputs{Getenv: env(map[string]string{"ETCDCTL_DIAL_TIMEOUT": "soon"}), Endpoints: []string{"h:1"}, Set: setOf("endpoints")}, "ETCDCTL_DIAL_TIMEOUT"},
		{"zero timeout", Inputs{CommandTimeout: 0, Endpoints: []string{"h:1"}, Set: setOf("endpoints", "command-timeout")}, "must be positive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.in.Getenv == nil {
				tc.in.Getenv = env(nil)
			}
			if tc.in.DialTimeout == 0 {
				tc.in.DialTimeout = time.Second
			}
			_, err := Resolve(tc.in)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want a one-line configuration error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestUserPasswordSplitAndRedaction(t *testing.T) {
	cfg, err := Resolve(Inputs{Endpoints: []string{"h:1"}, Set: setOf("endpoints"), Getenv: env(map[string]string{"ETCDCTL_USER": "root:s3cret-pw"})})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User != "root" || cfg.Password != "s3cret-pw" {
		t.Fatalf("user/password = %q/%q", cfg.User, cfg.Password)
	}
	for _, line := range cfg.Describe() {
		if strings.Contains(line, "s3cret-pw") {
			t.Fatalf("password leaked in %q", line)
		}
	}
}

func TestParseFlags(t *testing.T) {
	got := ParseFlags([]string{"etcd", "--name=a", "--data-dir", "/d", "--client-cert-auth", "--x=1", "--x=2"})
	want := map[string]string{"name": "a", "data-dir": "/d", "client-cert-auth": "true", "x": "2"}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}
