package breakglass

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// etcdOnlyOnLayout resolves the layout and runs etcd-only as the CLI does;
// either may refuse.
func etcdOnlyOnLayout(root string, o LayoutOptions) error {
	o.Root = root
	l, err := ResolveLayout(o)
	if err != nil {
		return err
	}
	_, err = EtcdOnly(l, OpenJournal(l.JournalPath()))
	return err
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func TestQuarantineResolvingIntoTheManifestDirIsRefused(t *testing.T) {
	for name, c := range map[string]struct {
		link, target string
		o            LayoutOptions
	}{
		"relative link":                  {"etc/kubernetes/etcdmedic-disabled", "manifests", LayoutOptions{}},
		"absolute link as on the node":   {"etc/kubernetes/etcdmedic-disabled", "/etc/kubernetes/manifests", LayoutOptions{}},
		"link into a sub-directory":      {"etc/kubernetes/etcdmedic-disabled", "manifests/old", LayoutOptions{}},
		"parent directory is a link":     {"srv/q", "../etc/kubernetes/manifests", LayoutOptions{QuarantineDir: "/srv/q/disabled"}},
		"state directory into manifests": {"var/lib/etcdmedic", "../../etc/kubernetes/manifests", LayoutOptions{}},
	} {
		t.Run(name, func(t *testing.T) {
			root, _ := fixtureRoot(t)
			symlink(t, c.target, filepath.Join(root, c.link))
			before := tree(t, root)
			err := etcdOnlyOnLayout(root, c.o)
			if !errors.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "resolves into the static-pod directory") {
				t.Errorf("err %v, want a refusal naming the static-pod directory", err)
			}
			sameTree(t, before, tree(t, root))
		})
	}
	t.Run("swapped for a link after the layout was resolved", func(t *testing.T) {
		root, manifests := fixtureRoot(t)
		l, j := mustLayout(t, root)
		before := tree(t, root)
		symlink(t, manifests, l.QuarantineDir)
		_, err := EtcdOnly(l, j)
		if !errors.Is(err, fault.Invalid) {
			t.Errorf("err %v, want a refusal", err)
		}
		got := tree(t, root)
		delete(got, "var/lib/etcdmedic/breakglass/journal.jsonl") // the refused move is journaled
		sameTree(t, before, got)
	})
}

func TestSymlinkedManifestsAreMovedAsLinksAndComeBack(t *testing.T) {
	root, manifests := fixtureRoot(t)
	// kube-apiserver.yaml links to a file elsewhere on the disk, by its
	// path on the node (it does not exist on this machine at that path);
	// kube-scheduler.yaml by a relative link.
	pods := filepath.Join(root, "srv/pods")
	for _, f := range []string{"kube-apiserver.yaml", "kube-scheduler.yaml"} {
		if err := os.MkdirAll(pods, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(manifests, f), filepath.Join(pods, f)); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{"kube-apiserver.yaml": "/srv/pods/kube-apiserver.yaml", "kube-scheduler.yaml": "../../../srv/pods/kube-scheduler.yaml"}
	for f, target := range links {
		symlink(t, target, filepath.Join(manifests, f))
	}
	targets := tree(t, pods)
	l, j := mustLayout(t, root)
	moves, err := EtcdOnly(l, j)
	if err != nil {
		t.Fatal(err)
	}
	if len(moves) != 3 {
		t.Fatalf("%d moves, want 3 (the two links and the controller manager): %+v", len(moves), moves)
	}
	ms, err := l.manifests()
	if err != nil || len(ms) != 1 || ms[0].Component != Etcd {
		t.Fatalf("the static-pod directory still runs %v (%v)", ms, err)
	}
	for f := range links {
		if _, err := os.Lstat(filepath.Join(manifests, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("link %s still in the static-pod directory", f)
		}
		if q, err := os.ReadFile(filepath.Join(l.QuarantineDir, f)); err != nil || string(q) != targets[f].data {
			t.Errorf("quarantine holds no copy of %s's content (%v)", f, err)
		}
	}
	sameTree(t, targets, tree(t, pods)) // the targets are never touched
	entries, _ := j.Read()
	for _, e := range entries {
		if want := links[filepath.Base(e.Path)]; e.LinkTarget != want {
			t.Errorf("entry %s: linkTarget %q, want %q", e.Path, e.LinkTarget, want)
		}
	}
	if src, err := FindOriginalAPIServer(l, entries); err != nil || src.Component != KubeAPIServer {
		t.Fatalf("apiserver --localhost finds no original: %v", err)
	}

	if _, err := Undo(context.Background(), l, j, UndoOptions{}); err != nil {
		t.Fatal(err)
	}
	for f, target := range links {
		if got, err := os.Readlink(filepath.Join(manifests, f)); err != nil || got != target {
			t.Errorf("%s: link %q (%v), want %q", f, got, err, target)
		}
	}
	sameTree(t, targets, tree(t, pods))
	if q := tree(t, l.QuarantineDir); len(q) != 0 {
		t.Errorf("quarantine still holds %v", q)
	}
}

func TestSymlinkedManifestThatCannotBeReadIsRefused(t *testing.T) {
	root, manifests := fixtureRoot(t)
	// On the node /opt may be another disk: here the target is missing, and
	// what the kubelet would run is unknown.
	symlink(t, "/opt/static/kube-vip.yaml", filepath.Join(manifests, "kube-vip.yaml"))
	before := tree(t, root)
	err := etcdOnlyOnLayout(root, LayoutOptions{})
	if !errors.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "kube-vip.yaml") {
		t.Fatalf("err %v, want a refusal naming the link", err)
	}
	sameTree(t, before, tree(t, root))
}

func owner(t *testing.T, path string) (uid, gid uint32, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid, fi.Mode().Perm()
}

func TestUndoRestoresOwnerGroupAndMode(t *testing.T) {
	root, manifests := fixtureRoot(t)
	want := map[string][3]int{
		"kube-apiserver.yaml":          {1234, 2345, 0o600},
		"kube-controller-manager.yaml": {0, 2345, 0o640},
		"kube-scheduler.yaml":          {3000, 3001, 0o644},
	}
	for f, w := range want {
		p := filepath.Join(manifests, f)
		if err := os.Chown(p, w[0], w[1]); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, os.FileMode(w[2])); err != nil {
			t.Fatal(err)
		}
	}
	l, j := mustLayout(t, root)
	if _, err := EtcdOnly(l, j); err != nil {
		t.Fatal(err)
	}
	check := func(dir string) {
		for f, w := range want {
			uid, gid, mode := owner(t, filepath.Join(dir, f))
			if int(uid) != w[0] || int(gid) != w[1] || int(mode) != w[2] {
				t.Errorf("%s: %d:%d %04o, want %d:%d %04o", filepath.Join(dir, f), uid, gid, mode, w[0], w[1], w[2])
			}
		}
	}
	check(l.QuarantineDir)
	// Even if the quarantined copies' owner changes, undo gives back what
	// the journal recorded.
	if err := os.Chown(filepath.Join(l.QuarantineDir, "kube-scheduler.yaml"), 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := Undo(context.Background(), l, j, UndoOptions{}); err != nil {
		t.Fatal(err)
	}
	check(manifests)
}

func chattr(t *testing.T, flag, path string) {
	t.Helper()
	if out, err := exec.Command("chattr", flag, path).CombinedOutput(); err != nil {
		t.Fatalf("chattr %s %s: %v: %s", flag, path, err, out)
	}
}

// As root chmod does not stop a removal; an immutable directory does (EPERM
// even for root), so the copy succeeds and removing the original fails.
func TestFailedMoveLeavesNoCopyAndUndoClearsOldLeftovers(t *testing.T) {
	root, manifests := fixtureRoot(t)
	before := tree(t, root)
	l, j := mustLayout(t, root)
	chattr(t, "+i", manifests)
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", manifests).Run() })
	moves, err := EtcdOnly(l, j)
	if err == nil || len(moves) == 0 || moves[0].Done {
		t.Fatalf("etcd-only on an immutable directory: moves %+v, err %v", moves, err)
	}
	chattr(t, "-i", manifests)
	if q := tree(t, l.QuarantineDir); len(q) != 0 {
		t.Errorf("a failed move left copies in quarantine: %v", q)
	}
	steps, err := Undo(context.Background(), l, j, UndoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 0 {
		t.Errorf("undo of a failed move that left nothing: %+v, want nothing to undo", steps)
	}
	got := tree(t, root)
	for p := range got {
		if strings.HasPrefix(p, "var/lib/etcdmedic/") {
			delete(got, p)
		}
	}
	sameTree(t, before, got)

	// A copy an older run left beside a failed entry is taken away by undo.
	src := filepath.Join(manifests, "kube-scheduler.yaml")
	data, _ := os.ReadFile(src)
	left := filepath.Join(l.QuarantineDir, "kube-scheduler.yaml")
	write(t, left, string(data))
	if _, err := j.Append(Entry{Action: ActQuarantine, Path: l.Rel(src), To: l.Rel(left), SHA256: digest(data), Result: ResultFailed, Detail: "remove: operation not permitted"}); err != nil {
		t.Fatal(err)
	}
	steps, err = Undo(context.Background(), l, j, UndoOptions{})
	if err != nil || len(steps) != 1 || steps[0].Result != ResultOK || !strings.Contains(steps[0].Detail, "removed") {
		t.Fatalf("undo of the leftover: %+v %v", steps, err)
	}
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover copy %s still there", left)
	}
	if d, _ := os.ReadFile(src); string(d) != string(data) {
		t.Errorf("%s changed", src)
	}
}

// The same in the other direction: undo writes a manifest back, then cannot
// remove its quarantined copy. The next undo finds the manifest in place and
// only removes the copy.
func TestUndoThatCannotRemoveTheCopyFinishesOnTheNextRun(t *testing.T) {
	root, manifests := fixtureRoot(t)
	before := tree(t, manifests)
	l, j := mustLayout(t, root)
	if _, err := EtcdOnly(l, j); err != nil {
		t.Fatal(err)
	}
	chattr(t, "+i", l.QuarantineDir)
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", l.QuarantineDir).Run() })
	if _, err := Undo(context.Background(), l, j, UndoOptions{}); err == nil {
		t.Fatal("undo with an immutable quarantine directory succeeded")
	}
	chattr(t, "-i", l.QuarantineDir)
	steps, err := Undo(context.Background(), l, j, UndoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 3 || !strings.Contains(steps[0].Detail, "already in place") || steps[1].Detail != "restored" {
		t.Errorf("second undo: %+v", steps)
	}
	sameTree(t, before, tree(t, manifests))
	if q := tree(t, l.QuarantineDir); len(q) != 0 {
		t.Errorf("quarantine still holds %v", q)
	}
}
