package breakglass

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A force-new-cluster run stopped between its two edits (manifest removed,
// flagged one written): undo walks both back to the original, byte-identical
// with its mode; a file changed since an edit is left alone.
func TestManifestEditsUndoByteIdentical(t *testing.T) {
	root, manifests := fixtureRoot(t)
	l, err := ResolveLayout(LayoutOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	j := OpenJournal(l.JournalPath())
	path := filepath.Join(manifests, "etcd.yaml")
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	before := tree(t, manifests)
	m, err := l.etcdManifest()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := EditManifest(l, j, path, m.SHA256, nil, 0, forceReason+": stop"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("manifest still there: %v", err)
	}
	flagged, err := withForceFlag(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := EditManifest(l, j, path, "", flagged, 0o600, forceReason+": flag"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !strings.Contains(string(got), "--force-new-cluster=true") {
		t.Fatal("no flag written")
	}
	if _, err := ParseManifest(path, flagged); err != nil {
		t.Fatalf("flagged manifest is not a Pod: %v", err)
	}
	steps, err := Undo(context.Background(), l, j, UndoOptions{})
	if err != nil || len(steps) != 2 {
		t.Fatalf("undo: %v %+v", err, steps)
	}
	after := tree(t, manifests)
	for p, s := range before {
		if after[p] != s {
			t.Errorf("%s not back byte-identical (mode %v, want %v)", p, after[p].mode, s.mode)
		}
	}

	// Edited, then changed by someone else: undo refuses and leaves it.
	m, _ = l.etcdManifest()
	if _, err := EditManifest(l, j, path, m.SHA256, []byte("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: etcd\n    command: [etcd]\n"), 0, probesReason+": test"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("hand edit"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Undo(context.Background(), l, j, UndoOptions{}); err == nil || !strings.Contains(err.Error(), "changed since it was edited") {
		t.Fatalf("undo over a hand edit: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "hand edit" {
		t.Fatal("undo overwrote a hand edit")
	}
}
