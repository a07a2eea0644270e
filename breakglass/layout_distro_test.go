package breakglass

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// distroRoot copies one of cluster's committed node trees
// (cluster/testdata/layouts/<name>) under a temp root, keeping file modes,
// and gives every manifest a mode of its own so undo's are checked too.
func distroRoot(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join("..", "cluster", "testdata", "layouts", name)
	root := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(root, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if strings.HasSuffix(p, ".yaml") {
			mode = 0o600 // RKE2's profile mode and OpenShift's installer write 0600
		}
		return os.WriteFile(dst, data, mode)
	})
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// The static-pod directories of RKE2 and OpenShift are found with no flag;
// plan names each control-plane piece whatever its file is called and reads
// etcd's data dir the way the distribution sets it; etcd-only leaves only
// etcd there and undo puts every file back byte-identical, mode included.
func TestPlanAndEtcdOnlyOnDistributionLayouts(t *testing.T) {
	for _, tc := range []struct {
		name, dir, distro, dataDir, caveat string
		components                         map[string]string // file -> component
	}{
		{
			name: "rke2", dir: "/var/lib/rancher/rke2/agent/pod-manifests", distro: DistroRKE2,
			dataDir: "/var/lib/rancher/rke2/server/db/etcd", caveat: "rke2-server",
			components: map[string]string{
				"etcd.yaml": Etcd, "kube-apiserver.yaml": KubeAPIServer, "kube-controller-manager.yaml": ControllerManager,
				"kube-scheduler.yaml": Scheduler, "kube-proxy.yaml": "kube-proxy",
			},
		},
		{
			name: "openshift", dir: "/etc/kubernetes/manifests", distro: DistroOpenShift,
			dataDir: "/var/lib/etcd", caveat: "operators",
			components: map[string]string{
				"etcd-pod.yaml": Etcd, "kube-apiserver-pod.yaml": KubeAPIServer, "kube-controller-manager-pod.yaml": ControllerManager,
				"kube-scheduler-pod.yaml": Scheduler, "kube-apiserver-startup-monitor-pod.yaml": "startup-monitor",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := distroRoot(t, tc.name)
			write(t, filepath.Join(root, tc.dataDir, "member/snap/db"), "0123456789")
			l, j := mustLayout(t, root)
			if l.Rel(l.ManifestDir) != tc.dir || l.Distribution != tc.distro {
				t.Fatalf("layout: dir %s (%s), distribution %q; want %s, %q", l.Rel(l.ManifestDir), l.StaticPodPathSource, l.Distribution, tc.dir, tc.distro)
			}

			r, err := Plan(l, j, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, m := range r.Manifests {
				got[filepath.Base(m.Path)] = m.Component
			}
			if !sameMap(got, tc.components) {
				t.Errorf("plan's manifests %v, want %v", got, tc.components)
			}
			var dataBytes int64 // the db written above, and RKE2's etcd config beside it
			for _, f := range tree(t, filepath.Join(root, tc.dataDir)) {
				dataBytes += int64(len(f.data))
			}
			if r.Distribution != tc.distro || r.EtcdDataDir != tc.dataDir || r.EtcdDataDirBytes != dataBytes {
				t.Errorf("plan: distribution %q, etcd data dir %q (%d bytes); want %q, %q (%d bytes)", r.Distribution, r.EtcdDataDir, r.EtcdDataDirBytes, tc.distro, tc.dataDir, dataBytes)
			}
			// The offline steps (survivors, probes, force-new-cluster,
			// defrag-offline) find the same data dir the plan names.
			if dd, err := EtcdDataDir(l); err != nil || dd != filepath.Join(root, tc.dataDir) {
				t.Errorf("EtcdDataDir = %q, %v; want %q", dd, err, filepath.Join(root, tc.dataDir))
			}
			etcdOnly := stepByCommand(t, r, "breakglass etcd-only")
			if etcdOnly.State == StateDone || !strings.Contains(etcdOnly.Detail, tc.caveat) {
				t.Errorf("etcd-only step %+v: want pending, with the %s caveat", etcdOnly, tc.caveat)
			}

			before := tree(t, l.ManifestDir)
			moves, err := EtcdOnly(l, j)
			if err != nil {
				t.Fatal(err)
			}
			if len(moves) != len(tc.components)-1 {
				t.Errorf("etcd-only moved %d manifests, want %d: %+v", len(moves), len(tc.components)-1, moves)
			}
			left := tree(t, l.ManifestDir)
			if len(left) != 1 || left[etcdFile(tc.components)].data != before[etcdFile(tc.components)].data {
				t.Errorf("after etcd-only the directory holds %v, want only the etcd manifest, untouched", keys(left))
			}
			if q := tree(t, l.QuarantineDir); len(q) != len(moves) {
				t.Errorf("quarantine holds %v", keys(q))
			}
			if r, err = Plan(l, j, nil); err != nil {
				t.Fatal(err)
			}
			if s := stepByCommand(t, r, "breakglass etcd-only"); s.State != StateDone {
				t.Errorf("plan after etcd-only: step %+v, want done", s)
			}

			if _, err := Undo(context.Background(), l, j, UndoOptions{}); err != nil {
				t.Fatal(err)
			}
			sameTree(t, before, tree(t, l.ManifestDir))
		})
	}
}

// k3s has no static pods: plan and etcd-only say so in one line, as bad
// input (exit 64), instead of reporting kubeadm's directory missing.
func TestK3sHasNoStaticPods(t *testing.T) {
	root := distroRoot(t, "k3s")
	_, err := ResolveLayout(LayoutOptions{Root: root})
	if !errors.Is(err, ErrK3sNoStaticPods) || !errors.Is(fault.Kind(err), fault.Invalid) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("k3s root: %v (kind %v), want the one-line k3s error marked invalid", err, fault.Kind(err))
	}
	// A directory named on the command line is still used.
	write(t, filepath.Join(root, "srv/pods/etcd.yaml"), "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: etcd\n    command: [etcd]\n")
	l, err := ResolveLayout(LayoutOptions{Root: root, ManifestDir: "/srv/pods"})
	if err != nil || l.Rel(l.ManifestDir) != "/srv/pods" {
		t.Fatalf("--manifest-dir on a k3s root: %v %+v", err, l)
	}
}

func stepByCommand(t *testing.T, r *PlanReport, cmd string) PlanStep {
	t.Helper()
	for _, s := range r.Steps {
		if strings.Contains(s.Command, cmd) {
			return s
		}
	}
	t.Fatalf("no step runs %q: %+v", cmd, r.Steps)
	return PlanStep{}
}

func etcdFile(components map[string]string) string {
	for f, c := range components {
		if c == Etcd {
			return f
		}
	}
	return ""
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
