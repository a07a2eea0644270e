package snapshot_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// TestRemoteNodeBundle: --with-manifests and --with-pki store the node's
// static-pod manifests and PKI beside the snapshot, encrypted (the PKI
// only ever so); prune removes them with their snapshot.
func TestRemoteNodeBundle(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	node := t.TempDir()
	man, pki := filepath.Join(node, "manifests"), filepath.Join(node, "pki")
	os.MkdirAll(filepath.Join(pki, "etcd"), 0o700)
	os.MkdirAll(man, 0o700)
	const keyPEM = "-----BEGIN PRIVATE KEY-----\nbundle-test-private-key-material\n-----END PRIVATE KEY-----\n"
	os.WriteFile(filepath.Join(man, "etcd.yaml"), []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: etcd}\n"), 0o600)
	os.WriteFile(filepath.Join(pki, "etcd", "server.key"), []byte(keyPEM), 0o600)
	id, _ := age.GenerateX25519Identity()
	dest := t.TempDir()
	u := "file://" + dest

	r := clitest.Run(t, env(c), "snapshot", "save", "--to", u, "--with-pki", "--pki-dir", pki)
	if r.Code != 64 {
		t.Fatalf("--with-pki without --encrypt-to: exit %d, want 64", r.Code)
	}
	out, _ := saveRemote(t, env(c), "--to", u, "--encrypt-to", id.Recipient().String(),
		"--with-manifests", "--manifests-dir", man, "--with-pki", "--pki-dir", pki)
	name := filepath.Base(out.Save.Path)
	for suffix, want := range map[string]string{".manifests.tar.gz.age": "etcd.yaml", ".pki.tar.gz.age": "etcd/server.key"} {
		b, err := os.ReadFile(filepath.Join(dest, name+suffix))
		if err != nil {
			t.Fatalf("bundle part %s: %v", suffix, err)
		}
		if bytes.Contains(b, []byte("bundle-test-private-key-material")) || bytes.Contains(b, []byte("kind: Pod")) {
			t.Fatalf("%s holds plaintext", suffix)
		}
		files := untar(t, b, id)
		if _, ok := files[want]; !ok {
			t.Fatalf("%s holds %v, want %s", suffix, files, want)
		}
		if suffix == ".pki.tar.gz.age" && files[want] != keyPEM {
			t.Fatalf("the key came back as %q", files[want])
		}
	}
	// A newer snapshot, then prune to one: the older one goes with its bundle.
	saveRemote(t, env(c), "--to", u)
	pr := clitest.Run(t, nil, "snapshot", "prune", u, "--keep-last", "1", "--yes", "-o", "json")
	var res struct{ Deleted []string }
	if pr.Code != 0 || json.Unmarshal([]byte(pr.Stdout), &res) != nil || len(res.Deleted) != 1 {
		t.Fatalf("prune: exit %d, %s", pr.Code, pr.Stdout)
	}
	des, _ := os.ReadDir(dest)
	for _, de := range des {
		if strings.HasPrefix(de.Name(), name) {
			t.Errorf("%s left after its snapshot was pruned", de.Name())
		}
	}
}

func untar(t *testing.T, b []byte, id age.Identity) map[string]string {
	t.Helper()
	dr, err := age.Decrypt(bytes.NewReader(b), id)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(dr)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		c, _ := io.ReadAll(tr)
		out[h.Name] = string(c)
	}
}
