package breakglass

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestEtcdOnlyMovesOutTwiceIsNoopUndoIsByteIdentical(t *testing.T) {
	root, manifests := fixtureRoot(t)
	before := tree(t, filepath.Join(root, "etc"))
	l, j := mustLayout(t, root)
	if l.ManifestDir != manifests || !strings.HasPrefix(l.StaticPodPathSource, "kubelet config") {
		t.Fatalf("manifest dir %s from %s", l.ManifestDir, l.StaticPodPathSource)
	}

	moves, err := EtcdOnly(l, j)
	if err != nil {
		t.Fatal(err)
	}
	var moved []string
	for _, m := range moves {
		if !m.Done {
			t.Errorf("%s not done: %s", m.From, m.Error)
		}
		moved = append(moved, filepath.Base(m.From))
	}
	sort.Strings(moved)
	if want := "kube-apiserver.yaml,kube-controller-manager.yaml,kube-scheduler.yaml"; strings.Join(moved, ",") != want {
		t.Fatalf("moved %v, want %s", moved, want)
	}
	after := tree(t, manifests)
	for _, keep := range []string{"etcd.yaml", ".kube-apiserver.yaml.swp", "old/kube-apiserver.yaml"} {
		if _, ok := after[keep]; !ok {
			t.Errorf("%s should have stayed", keep)
		}
	}
	if len(after) != 3 {
		t.Errorf("manifest dir holds %d files, want 3: %v", len(after), after)
	}
	q := tree(t, l.QuarantineDir)
	for _, f := range moved {
		if q[f].data != before["kubernetes/manifests/"+f].data || q[f].mode != before["kubernetes/manifests/"+f].mode {
			t.Errorf("quarantined %s differs from the original", f)
		}
	}
	if inside(l.QuarantineDir, l.ManifestDir) {
		t.Fatal("quarantine inside the manifest dir")
	}
	entries, _ := j.Read()
	if len(entries) != 3 {
		t.Fatalf("journal has %d entries, want 3", len(entries))
	}
	for _, e := range entries {
		if e.Action != ActQuarantine || e.Result != ResultOK || len(e.SHA256) != 64 || e.User == "" || e.Time.IsZero() {
			t.Errorf("journal entry incomplete: %+v", e)
		}
	}

	// Twice in a row: nothing more.
	snap := tree(t, root)
	moves, err = EtcdOnly(l, j)
	if err != nil || len(moves) != 0 {
		t.Fatalf("second run: moves %v, err %v", moves, err)
	}
	sameTree(t, snap, tree(t, root))

	steps, err := Undo(context.Background(), l, j, UndoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 3 {
		t.Errorf("undo steps %d, want 3", len(steps))
	}
	got := tree(t, filepath.Join(root, "etc"))
	for p := range got {
		if strings.HasPrefix(p, "kubernetes/etcdmedic-disabled/") {
			delete(got, p) // the emptied quarantine dir itself may stay
		}
	}
	sameTree(t, before, got)
	// Undo twice: nothing left to do.
	if steps, err := Undo(context.Background(), l, j, UndoOptions{}); err != nil || len(steps) != 0 {
		t.Fatalf("second undo: %v %v", steps, err)
	}
}

func TestEtcdOnlyOfflineRootHonoursKubeletStaticPodPath(t *testing.T) {
	root, manifests := fixtureRoot(t)
	custom := filepath.Join(root, "srv/static-pods")
	if err := os.MkdirAll(filepath.Dir(custom), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(manifests, custom); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "var/lib/kubelet/config.yaml"), "kind: KubeletConfiguration\nstaticPodPath: /srv/static-pods\n")
	l, j := mustLayout(t, root)
	if l.ManifestDir != custom {
		t.Fatalf("manifest dir %s, want %s", l.ManifestDir, custom)
	}
	if _, err := EtcdOnly(l, j); err != nil {
		t.Fatal(err)
	}
	ms, err := ReadManifests(custom)
	if err != nil || len(ms) != 1 || ms[0].Component != Etcd {
		t.Fatalf("left %v %v", ms, err)
	}
	entries, _ := j.Read()
	if len(entries) == 0 || !strings.HasPrefix(entries[0].Path, "/srv/static-pods/") {
		t.Fatalf("journal paths must be as on the node, got %+v", entries)
	}
}

func TestBadManifestInputChangesNothing(t *testing.T) {
	t.Run("root without manifests", func(t *testing.T) {
		root := t.TempDir()
		l, j := mustLayout(t, root)
		_, err := EtcdOnly(l, j)
		if !errors.Is(err, ErrNoManifests) {
			t.Fatalf("err %v, want ErrNoManifests", err)
		}
		if got := tree(t, root); len(got) != 0 {
			t.Fatalf("wrote %v", got)
		}
	})
	t.Run("not a pod", func(t *testing.T) {
		root, manifests := fixtureRoot(t)
		write(t, filepath.Join(manifests, "kube-vip.yaml"), "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n")
		before := tree(t, root)
		l, j := mustLayout(t, root)
		_, err := EtcdOnly(l, j)
		if !errors.Is(err, ErrNotPod) || !strings.Contains(err.Error(), "kube-vip.yaml") {
			t.Fatalf("err %v, want ErrNotPod naming the file", err)
		}
		sameTree(t, before, tree(t, root))
	})
	t.Run("no etcd manifest", func(t *testing.T) {
		root, manifests := fixtureRoot(t)
		os.Remove(filepath.Join(manifests, "etcd.yaml"))
		before := tree(t, root)
		l, j := mustLayout(t, root)
		if _, err := EtcdOnly(l, j); !errors.Is(err, ErrNoManifests) {
			t.Fatalf("err %v", err)
		}
		sameTree(t, before, tree(t, root))
	})
}

func TestParsePhasesAndSelector(t *testing.T) {
	if p, err := ParsePhases("succeeded, Failed"); err != nil || len(p) != 2 || p[0] != "Succeeded" {
		t.Fatalf("%v %v", p, err)
	}
	if _, err := ParsePhases("Succeeded,Done"); err == nil || !strings.Contains(err.Error(), `"Done"`) {
		t.Fatalf("unknown phase accepted: %v", err)
	}
	if _, err := ParseSelector("app in (a,b"); err == nil {
		t.Fatal("malformed selector accepted")
	}
	if s, err := ParseSelector("tier!=web,app"); err != nil || s == nil {
		t.Fatal(err)
	}
}
