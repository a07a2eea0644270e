package status_test

import (
	"encoding/json"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// Zero flags on an RKE2, a k3s and an OpenShift node: each distribution's
// files (cluster/testdata/layouts) are laid out under a root, pointed at a
// real TLS member, with the playground's CA and client certificate copied to
// where that distribution keeps them. status must find the member, its
// certificates and its metrics by itself, and -v must say which layout.
func TestStatusZeroFlagsOnEachDistributionLayout(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1, TLS: true})
	files := c.TLS()
	ep := c.Endpoints()[0]
	u, err := url.Parse(ep)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	name := c.Member(0).Name

	rancher := func(dist string) (map[string]string, map[string]string) {
		tls := "var/lib/rancher/" + dist + "/server/tls/etcd/"
		return map[string]string{
				"https://127.0.0.1:2379,https://10.0.0.31:2379": ep,
				"advertise-client-urls: https://10.0.0.31:2379": "advertise-client-urls: " + ep,
				"http://127.0.0.1:2381":                         ep,
				"https://127.0.0.1:2382":                        ep,
				"cp-" + dist + "-1-3f9c1d2a":                    name,
			}, map[string]string{
				tls + "server-ca.crt": files.CA,
				tls + "client.crt":    files.ClientCert,
				tls + "client.key":    files.ClientKey,
			}
	}
	osCerts := "etc/kubernetes/static-pod-resources/etcd-certs/"
	for _, tc := range []struct {
		layout  string
		rewrite map[string]string
		certs   map[string]string
	}{
		{layout: "rke2"},
		{layout: "k3s"},
		{layout: "openshift", rewrite: map[string]string{
			"https://0.0.0.0:2379": "https://0.0.0.0:" + port,
			"https://0.0.0.0:2381": "https://0.0.0.0:" + port,
			`value: "https://10.0.0.21:2379,https://10.0.0.22:2379,https://10.0.0.23:2379"`: `value: "` + ep + `"`,
			"master-0": name,
		}, certs: map[string]string{
			osCerts + "configmaps/etcd-all-bundles/server-ca-bundle.crt":  files.CA,
			osCerts + "secrets/etcd-all-certs/etcd-peer-" + name + ".crt": files.ClientCert,
			osCerts + "secrets/etcd-all-certs/etcd-peer-" + name + ".key": files.ClientKey,
		}},
	} {
		t.Run(tc.layout, func(t *testing.T) {
			if tc.rewrite == nil {
				tc.rewrite, tc.certs = rancher(tc.layout)
			}
			root := t.TempDir()
			layTree(t, filepath.Join("../../cluster/testdata/layouts", tc.layout), root, tc.rewrite)
			for dst, src := range tc.certs {
				if err := os.MkdirAll(filepath.Join(root, filepath.Dir(dst)), 0o755); err != nil {
					t.Fatal(err)
				}
				copyFile(t, src, filepath.Join(root, dst))
			}

			res := clitest.Run(t, playgroundtest.Env("ETCDMEDIC_ROOT", root), "status", "-o", "json", "-v")
			if res.Code != 0 {
				t.Fatalf("exit %d, want 0", res.Code)
			}
			r := decode(t, res.Stdout)
			if len(r.Members) != 1 || r.Members[0].Name != name || r.Members[0].WALFsyncP99Seconds == nil {
				t.Fatalf("want the one member with its metrics read, got %+v", r.Members)
			}
			for _, want := range []string{"layout=" + tc.layout + " (", filepath.Join(root, filepath.Dir(firstKey(tc.certs)))} {
				if !strings.Contains(res.Stderr, want) {
					t.Fatalf("-v does not say %q:\n%s", want, res.Stderr)
				}
			}
			if tc.layout == "k3s" {
				k3sCompactionFromItsConfig(t, root)
			}
		})
	}
}

// layTree copies a fixture tree under root, rewriting addresses and names.
func layTree(t *testing.T, from, root string, rewrite map[string]string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(root, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := string(b)
		for old, nw := range rewrite {
			s = strings.ReplaceAll(s, old, nw)
		}
		return os.WriteFile(dst, []byte(s), 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}

// k3s runs kube-apiserver in its own process: doctor --node judges the
// apiserver's compaction from k3s's config (its default every 5m when the
// config says nothing, else the kube-apiserver-arg given), not "unknown".
func k3sCompactionFromItsConfig(t *testing.T, root string) {
	t.Helper()
	env := playgroundtest.Env("ETCDMEDIC_ROOT", root)
	compaction := func() (severity, observed string) {
		t.Helper()
		res := clitest.Run(t, env, "doctor", "--node", "--window", "1s", "-o", "json")
		var r struct {
			Findings []struct{ ID, Severity, Observed string }
		}
		if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
			t.Fatalf("doctor --node -o json: %v\n%s", err, res.Stdout)
		}
		for _, f := range r.Findings {
			if f.ID == "node.autoCompaction" {
				return f.Severity, f.Observed
			}
		}
		t.Fatalf("no node.autoCompaction finding:\n%s", res.Stdout)
		return "", ""
	}
	if sev, obs := compaction(); sev == "unknown" || !strings.Contains(obs, "apiserver every 5m0s (default)") {
		t.Errorf("k3s without kube-apiserver-arg: %s %q; want judged by the apiserver's 5m default", sev, obs)
	}
	cfg := filepath.Join(root, "etc/rancher/k3s/config.yaml")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("kube-apiserver-arg:\n  - etcd-compaction-interval=10m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if sev, obs := compaction(); sev == "unknown" || !strings.Contains(obs, "apiserver every 10m0s") {
		t.Errorf("k3s with etcd-compaction-interval=10m: %s %q; want it read from %s", sev, obs, cfg)
	}
}
