package breakglass_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
)

// A quarantine directory that is a symlink into the static-pod directory
// once had every manifest copied onto itself and deleted, exit 0. Now: exit
// 64 and nothing touched, for every step that reads the layout.
func TestQuarantineLinkedIntoTheManifestsIsExit64(t *testing.T) {
	root := fixtureRoot(t)
	if err := os.Symlink("manifests", filepath.Join(root, "etc/kubernetes/etcdmedic-disabled")); err != nil {
		t.Fatal(err)
	}
	before := snapshotFiles(t, root)
	for _, args := range [][]string{{"etcd-only", "--yes"}, {"etcd-only", "--dry-run"}, {"undo", "--yes"}, {"plan", "--no-health"}} {
		r := clitest.Run(t, noEtcd, append([]string{"breakglass"}, append(args, "--root", root)...)...)
		if r.Code != 64 || !strings.Contains(r.Stderr, "resolves into the static-pod directory") {
			t.Errorf("%v: exit %d, stderr %q", args, r.Code, r.Stderr)
		}
	}
	if !same(before, snapshotFiles(t, root)) {
		t.Fatal("files changed")
	}
}

// breakglass journal says when the last line is torn, and the next step
// that appends cuts it off; the journal and undo keep working.
func TestJournalCommandReportsATornLastLine(t *testing.T) {
	root := fixtureRoot(t)
	if r := clitest.Run(t, noEtcd, "breakglass", "etcd-only", "--root", root, "--yes"); r.Code != 0 {
		t.Fatalf("etcd-only: exit %d", r.Code)
	}
	journal := filepath.Join(root, "var/lib/etcdmedic/breakglass/journal.jsonl")
	data, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(journal, int64(len(data)-40)); err != nil {
		t.Fatal(err)
	}
	r := clitest.Run(t, noEtcd, "breakglass", "journal", "--root", root, "-o", "json")
	var v struct {
		Entries   []json.RawMessage `json:"entries"`
		TornBytes int               `json:"tornBytes"`
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &v) != nil || len(v.Entries) != 2 || v.TornBytes == 0 || !strings.Contains(r.Stderr, "torn") {
		t.Fatalf("journal: exit %d, %d entries, tornBytes %d, stderr %q", r.Code, len(v.Entries), v.TornBytes, r.Stderr)
	}
	if r := clitest.Run(t, noEtcd, "breakglass", "undo", "--root", root, "--yes"); r.Code != 0 {
		t.Fatalf("undo: exit %d", r.Code)
	}
	r = clitest.Run(t, noEtcd, "breakglass", "journal", "--root", root, "-o", "json")
	v.TornBytes = 0
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &v) != nil || v.TornBytes != 0 || len(v.Entries) != 4 {
		t.Fatalf("journal after undo: exit %d, %d entries, tornBytes %d", r.Code, len(v.Entries), v.TornBytes)
	}
	if torn, _ := filepath.Glob(journal + ".torn-*"); len(torn) != 1 {
		t.Fatalf("torn bytes kept in %v", torn)
	}
}
