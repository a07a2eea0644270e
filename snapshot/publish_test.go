package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func tempWith(t *testing.T, dir, content string) *tempFile {
	t.Helper()
	f, err := createTemp(dir, extDB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	return f
}

// Saves that finish at the same instant each get a name of their own and
// keep their own bytes: nothing under a final name is ever replaced.
func TestPublishSameInstantNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 12, 2, 1, 2, 3, 400e6, time.UTC)
	name := func(t time.Time) string { return FileName(0x3f2a4f4c2d6a3b1e, 42, t, false) }
	// A snapshot copied in by hand, without metadata, holds the first name.
	if err := os.WriteFile(filepath.Join(dir, name(at)), []byte("by hand"), 0o600); err != nil {
		t.Fatal(err)
	}
	const n = 8
	paths := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		f := tempWith(t, dir, fmt.Sprintf("snapshot %d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer f.Close()
			paths[i], errs[i] = publish(f, &Metadata{Revision: 42, Verified: true}, "", dir, name, at)
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("save %d: %v", i, errs[i])
		}
		if seen[paths[i]] {
			t.Fatalf("two saves got %s", paths[i])
		}
		seen[paths[i]] = true
		b, err := os.ReadFile(paths[i])
		if err != nil || string(b) != fmt.Sprintf("snapshot %d", i) {
			t.Fatalf("%s holds %q (%v), want save %d's bytes", paths[i], b, err, i)
		}
		m, ok, err := ReadMetadata(paths[i])
		if err != nil || !ok || m.File != filepath.Base(paths[i]) {
			t.Fatalf("%s: metadata %+v ok=%v err=%v", paths[i], m, ok, err)
		}
		if n, _ := ParseName(filepath.Base(paths[i])); !n.Created.Equal(m.Created) {
			t.Fatalf("%s: name says %s, metadata %s", paths[i], n.Created, m.Created)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, name(at))); string(b) != "by hand" {
		t.Fatalf("the hand-copied snapshot was replaced: %q", b)
	}
	if _, err := os.Stat(MetaPath(filepath.Join(dir, name(at)))); !os.IsNotExist(err) {
		t.Fatalf("metadata written for a file this save does not own (%v)", err)
	}
	es, err := List(dir, at)
	if err != nil || len(es) != n+1 {
		t.Fatalf("list: %d entries (%v), want %d", len(es), err, n+1)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, tempPrefix+"*")); len(left) > 0 {
		t.Fatalf("temporary names left: %v", left)
	}

	// A file name the user chose is never moved to another name.
	f := tempWith(t, dir, "mine")
	defer f.Close()
	if _, err := publish(f, &Metadata{}, paths[0], dir, name, at); !errors.Is(err, ErrTargetExists) {
		t.Fatalf("publish over %s: %v, want ErrTargetExists", paths[0], err)
	}
	if b, _ := os.ReadFile(paths[0]); string(b) == "mine" {
		t.Fatal("an existing snapshot was overwritten")
	}
}
