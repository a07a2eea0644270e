package status_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// A kubeadm-shaped node: the etcd manifest points at a real (TLS) playground
// member and the client certificate sits where kubeadm puts it. `status` with
// --manifest and no other flag must find everything by itself.
func TestStatusZeroFlagsFromKubeadmManifest(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1, TLS: true})
	files := c.TLS()
	root := t.TempDir()
	pkiEtcd := filepath.Join(root, "pki", "etcd")
	if err := os.MkdirAll(pkiEtcd, 0o700); err != nil {
		t.Fatal(err)
	}
	copyFile(t, files.CA, filepath.Join(pkiEtcd, "ca.crt"))
	copyFile(t, files.ClientCert, filepath.Join(pkiEtcd, "healthcheck-client.crt"))
	copyFile(t, files.ClientKey, filepath.Join(pkiEtcd, "healthcheck-client.key"))

	fixture, err := os.ReadFile("../../cluster/testdata/kubeadm/etcd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ep := c.Endpoints()[0]
	manifest := string(fixture)
	manifest = strings.ReplaceAll(manifest, "PKI/", filepath.Join(root, "pki")+"/")
	manifest = strings.ReplaceAll(manifest, "--advertise-client-urls=https://10.0.0.11:2379", "--advertise-client-urls="+ep)
	manifest = strings.ReplaceAll(manifest, "--listen-client-urls=https://127.0.0.1:2379,https://10.0.0.11:2379", "--listen-client-urls="+ep)
	manifest = strings.ReplaceAll(manifest, "--listen-metrics-urls=http://127.0.0.1:2381", "--listen-metrics-urls="+ep)
	manifest = strings.ReplaceAll(manifest, "--name=cp-1", "--name="+c.Member(0).Name)
	path := filepath.Join(root, "manifests", "etcd.yaml")
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}

	res := clitest.Run(t, nil, "status", "-o", "json", "-v", "--manifest", path)
	if res.Code != 0 {
		t.Fatalf("exit %d, want 0", res.Code)
	}
	r := decode(t, res.Stdout)
	if len(r.Members) != 1 || r.Members[0].WALFsyncP99Seconds == nil {
		t.Fatalf("members = %+v", r.Members)
	}
	for _, want := range []string{"(kubeadm manifest " + path, "healthcheck-client.crt", "metrics-url=" + ep + "/metrics"} {
		if !strings.Contains(res.Stderr, want) {
			t.Fatalf("-v does not say %q:\n%s", want, res.Stderr)
		}
	}

	// An endpoint in the environment wins over the manifest: discovery is skipped,
	// so without certificates the TLS member cannot be verified.
	res = clitest.Run(t, playgroundtest.Env("ETCDCTL_ENDPOINTS", "http://127.0.0.1:1"), "status", "--manifest", path, "--command-timeout", "1s")
	if res.Code != 3 || !strings.Contains(res.Stderr, "127.0.0.1:1") {
		t.Fatalf("env endpoint should win over the manifest: exit %d\n%s", res.Code, res.Stderr)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
