package breakglass_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
)

// layoutRoot copies one of cluster's committed node trees under a temp root.
func layoutRoot(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join("../../cluster/testdata/layouts", name)
	root := t.TempDir()
	copyTree(t, src, root)
	return root
}

// With no flag but --root, plan, etcd-only and undo work on RKE2's and
// OpenShift's static-pod directories, and say which layout they found.
func TestRunbookOnDistributionLayouts(t *testing.T) {
	for _, tc := range []struct{ name, dir, kept string }{
		{"rke2", "/var/lib/rancher/rke2/agent/pod-manifests", "etcd.yaml"},
		{"openshift", "/etc/kubernetes/manifests", "etcd-pod.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := layoutRoot(t, tc.name)
			before := snapshotFiles(t, root)
			r := clitest.Run(t, noEtcd, "breakglass", "plan", "--root", root)
			if r.Code != 0 || !strings.Contains(r.Stdout, "static-pod directory "+tc.dir+" ("+tc.name+" layout") {
				t.Fatalf("plan: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			r = clitest.Run(t, noEtcd, "breakglass", "etcd-only", "--root", root, "--yes")
			if r.Code != 0 {
				t.Fatalf("etcd-only: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			left, err := os.ReadDir(filepath.Join(root, tc.dir))
			if err != nil || len(left) != 1 || left[0].Name() != tc.kept {
				t.Fatalf("after etcd-only %s holds %v (%v), want only %s", tc.dir, left, err, tc.kept)
			}
			apiserverLocalhostOn(t, tc.name, root)
			r = clitest.Run(t, noEtcd, "breakglass", "undo", "--root", root, "--yes")
			after := snapshotFiles(t, root)
			for p := range after {
				if strings.Contains(p, "/var/lib/etcdmedic/") {
					delete(after, p) // the journal
				}
			}
			if r.Code != 0 || !same(before, after) {
				t.Fatalf("undo: exit %d, files back byte-identical: %v\n%s%s", r.Code, same(before, after), r.Stdout, r.Stderr)
			}
		})
	}
}

// k3s has no static pods: one line that says so, exit 64, nothing written.
func TestRunbookOnK3sSaysThereAreNoStaticPods(t *testing.T) {
	root := layoutRoot(t, "k3s")
	before := snapshotFiles(t, root)
	for _, args := range [][]string{{"plan"}, {"etcd-only", "--yes"}} {
		r := clitest.Run(t, noEtcd, append(append([]string{"breakglass"}, args...), "--root", root)...)
		lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
		// The error is one line; the second is the usage hint every exit 64 carries.
		if r.Code != 64 || len(lines) > 2 || !strings.HasPrefix(lines[0], "Error: k3s runs etcd") || !same(before, snapshotFiles(t, root)) {
			t.Errorf("breakglass %s on k3s: exit %d, stderr:\n%s", args[0], r.Code, r.Stderr)
		}
	}
}

// apiserver --localhost from the manifest etcd-only quarantined: RKE2's
// kube-apiserver runs directly, so its break-glass manifest is a Pod bound to
// 127.0.0.1 on the local etcd; OpenShift's runs inside bash -ec "exec ...
// kube-apiserver --openshift-config=...", where flags would reach bash and
// the config file binds it anyway: refused in one line, nothing written.
func apiserverLocalhostOn(t *testing.T, layout, root string) {
	t.Helper()
	before := snapshotFiles(t, root)
	r := clitest.Run(t, noEtcd, "breakglass", "apiserver", "--localhost", "--root", root, "--dry-run", "-o", "yaml")
	if layout == "openshift" {
		lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
		if r.Code != 64 || len(lines) > 2 || !strings.Contains(lines[0], "runs inside a shell script") || !strings.Contains(lines[0], "--from") || !same(before, snapshotFiles(t, root)) {
			t.Fatalf("apiserver --localhost on OpenShift: exit %d, stderr:\n%s", r.Code, r.Stderr)
		}
		return
	}
	if r.Code != 0 {
		t.Fatalf("apiserver --localhost --dry-run: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	var pod struct {
		Spec struct {
			Containers []struct {
				Name          string
				Command, Args []string
			}
		}
	}
	body := r.Stdout[strings.Index(r.Stdout, "apiVersion:"):]
	if err := yaml.Unmarshal([]byte(body), &pod); err != nil || len(pod.Spec.Containers) == 0 {
		t.Fatalf("the break-glass manifest is not a Pod: %v\n%s", err, r.Stdout)
	}
	argv := strings.Join(append(pod.Spec.Containers[0].Command, pod.Spec.Containers[0].Args...), " ")
	for _, want := range []string{"--bind-address=127.0.0.1", "--etcd-servers=https://127.0.0.1:2379", "--endpoint-reconciler-type=none", "--watch-cache=false"} {
		if strings.Count(argv, want) != 1 {
			t.Errorf("%s: the break-glass kube-apiserver's command has %q %d times, want once:\n%s", layout, want, strings.Count(argv, want), argv)
		}
	}
	if !same(before, snapshotFiles(t, root)) {
		t.Error("--dry-run changed files")
	}
}
