package breakglass

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/playground"
)

// fixtureRoot lays out a kubeadm control-plane disk under a temp root: the
// four static-pod manifests, a dot file and a sub-directory the kubelet
// ignores, and a kubelet config naming the static-pod path.
func fixtureRoot(t *testing.T) (root, manifests string) {
	t.Helper()
	root = t.TempDir()
	manifests = filepath.Join(root, "etc/kubernetes/manifests")
	if err := os.MkdirAll(filepath.Join(manifests, "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata/kubeadm", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(manifests, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(manifests, ".kube-apiserver.yaml.swp"), "editor swap file, not a manifest")
	write(t, filepath.Join(manifests, "old/kube-apiserver.yaml"), "not read: the kubelet does not recurse")
	write(t, filepath.Join(root, "var/lib/kubelet/config.yaml"), "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nstaticPodPath: /etc/kubernetes/manifests\n")
	write(t, filepath.Join(root, "var/lib/etcd/member/snap/db"), "0123456789")
	return root, manifests
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

type fileState struct {
	data string
	mode fs.FileMode
}

// tree records every regular file under dir with its bytes and mode.
func tree(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			info, _ := d.Info()
			rel, _ := filepath.Rel(dir, p)
			out[rel] = fileState{string(data), info.Mode()}
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

func sameTree(t *testing.T, want, got map[string]fileState) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			t.Errorf("%s missing", p)
		case g.data != w.data:
			t.Errorf("%s: content differs", p)
		case g.mode != w.mode:
			t.Errorf("%s: mode %v, want %v", p, g.mode, w.mode)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: unexpected file", p)
		}
	}
}

func mustLayout(t *testing.T, root string) (*Layout, *Journal) {
	t.Helper()
	l, err := ResolveLayout(LayoutOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	return l, OpenJournal(l.JournalPath())
}

// quarantineAPIServer runs etcd-only and returns the kube-apiserver manifest
// it quarantined, found through the journal as apiserver --localhost does.
func quarantineAPIServer(t *testing.T, l *Layout, j *Journal) *Manifest {
	t.Helper()
	if _, err := EtcdOnly(l, j); err != nil {
		t.Fatal(err)
	}
	entries, err := j.Read()
	if err != nil {
		t.Fatal(err)
	}
	src, err := FindOriginalAPIServer(l, entries)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// openCluster connects to a playground as the CLI does, with the given
// --command-timeout bounding every call.
func openCluster(t testing.TB, c *playground.Cluster, commandTimeout time.Duration) *cluster.Cluster {
	t.Helper()
	cl, err := cluster.Open(&cluster.Config{Endpoints: c.Endpoints(), DialTimeout: 2 * time.Second, CommandTimeout: commandTimeout}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func timeout(d time.Duration) func(context.Context) (context.Context, context.CancelFunc) {
	return func(ctx context.Context) (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, d) }
}
