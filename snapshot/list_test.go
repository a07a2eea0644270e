package snapshot

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// list says "verified" only when the metadata describes the file beside it:
// same size, revision, cluster and time as the name. A name edited to
// another time (or a metadata file copied beside another snapshot) leaves
// nothing that vouches for how old the snapshot is.
func TestListTrustsOnlyConsistentMetadata(t *testing.T) {
	dir := t.TempDir()
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	content := []byte("list reads no data")
	write := func(name string, m Metadata) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(m)
		if err := os.WriteFile(MetaPath(p), b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	meta := func(created time.Time, cluster string) Metadata {
		return Metadata{Created: created, ClusterID: cluster, Revision: 7, Size: int64(len(content)), SHA256: "x", Verified: true}
	}
	good := write(FileName(1, 7, at, false), meta(at, "0000000000000001"))
	renamed := write(FileName(1, 7, at.Add(48*time.Hour), false), meta(at.Add(time.Minute), "0000000000000001"))
	otherCluster := write(FileName(2, 7, at.Add(time.Second), false), meta(at.Add(time.Second), "0000000000000001"))
	es, err := List(dir, at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{good: StateVerified, renamed: StateMismatch, otherCluster: StateMismatch}
	for _, e := range es {
		if e.State != want[e.Path] || e.Verified != (want[e.Path] == StateVerified) {
			t.Errorf("%s: state %s verified %v, want %s", filepath.Base(e.Path), e.State, e.Verified, want[e.Path])
		}
		if e.Future != (e.Path == renamed) {
			t.Errorf("%s: future %v", filepath.Base(e.Path), e.Future)
		}
	}
	if len(es) != 3 {
		t.Fatalf("listed %d, want 3", len(es))
	}
}
