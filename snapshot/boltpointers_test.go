package snapshot

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/etcdmedic/etcdmedic/internal/etcdschema"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// realSnapshot streams a snapshot of a seeded real etcd whose key bucket
// is deep enough for branch pages.
func realSnapshot(t *testing.T) string {
	t.Helper()
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 300, ConfigMaps: 50, PodPadding: 400})
	cli := playgroundtest.Client(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rc, err := cli.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	path := filepath.Join(t.TempDir(), "s.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// keyRoot is the key bucket's root page, which must be a branch page, and
// the page size.
func keyRoot(t *testing.T, path string) (root uint64, pageSize int) {
	t.Helper()
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket(etcdschema.KeyBucket).Root())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pageSize = db.Info().PageSize
	b := make([]byte, 16)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(b, int64(root)*int64(pageSize)); err != nil {
		t.Fatal(err)
	}
	if flags := binary.LittleEndian.Uint16(b[8:]); flags != 0x01 {
		t.Fatalf("the key bucket's root page %d is not a branch page (flags %#x): seed more", root, flags)
	}
	return root, pageSize
}

// pointTo sets the first child pointer of branch page root to child.
func pointTo(t *testing.T, path string, root uint64, pageSize int, child uint64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := binary.LittleEndian.AppendUint64(nil, child)
	if _, err := f.WriteAt(b, int64(root)*int64(pageSize)+16+8); err != nil {
		t.Fatal(err)
	}
}

// A damaged page pointer or element that the bolt read meets while the
// hash is still running (the verdict is held back until the read is
// waiting for it) is an error of the read, not a fault, a hang or a crash
// (bolt's check, which runs before the verdict on what the proof passed,
// included), and the read reports nothing once the verdict condemns the
// content. Verify, hash and read racing as they do, calls the file
// corrupted, with etcd's appended hash and without it.
func TestCorruptPointerMetBeforeTheHash(t *testing.T) {
	good := realSnapshot(t)
	root, pageSize := keyRoot(t, good)
	fi, err := os.Stat(good)
	if err != nil {
		t.Fatal(err)
	}
	g := parsePages(t, good)
	leaf := g.firstLeaf(t, root)
	inl := g.inlineBucket(t)
	ps := int64(pageSize)
	el := func(page uint64, i int) int64 { return int64(page)*ps + 16 + int64(i)*16 }
	cases := []struct {
		name   string
		damage func(p string)
		want   string
	}{
		// Past bbolt's mapping: a fault.
		{"out of bounds", func(p string) { pointTo(t, p, root, pageSize, 1<<40) }, "out of bounds"},
		// Between the end of the file and the end of bbolt's mapping.
		{"past the end of the file", func(p string) { pointTo(t, p, root, pageSize, uint64(fi.Size())/uint64(pageSize)+3) }, "out of bounds"},
		// bbolt's cursor would descend forever.
		{"cycle", func(p string) { pointTo(t, p, root, pageSize, root) }, "reached twice"},
		// A key offset outside its page: bbolt's check reads the key.
		{"branch key outside its page", func(p string) { put32(t, p, el(root, 0), 1<<30) }, "branch element 0 out of its page"},
		{"leaf key outside its page", func(p string) { put32(t, p, el(leaf, 0)+4, 1<<30) }, "leaf element 0 out of its page"},
		{"more elements than the page holds", func(p string) { put16(t, p, int64(leaf)*ps+10, 0xffff) }, "do not fit"},
		// bbolt's free-page rebuild panics, unrecovered, on these.
		{"keys out of order", func(p string) { put32(t, p, el(leaf, 1)+8, 1) }, "not above the key before it"},
		{"a page neither branch nor leaf", func(p string) { put16(t, p, int64(leaf)*ps+8, 0x04) }, "neither a branch's nor a leaf's"},
		// An inline bucket's page lives in its parent's value.
		{"inline bucket page not a leaf", func(p string) { put16(t, p, inl+8, 0x01) }, "not a leaf's"},
		{"inline bucket elements past its value", func(p string) { put16(t, p, inl+10, 0x7fff) }, "do not fit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "s.db")
			copyTo(t, good, p)
			tc.damage(p)

			v := newVouch()
			var walkErr error
			waiting := make(chan struct{})
			testHookWalked = func(err error) { walkErr = err; close(waiting) }
			defer func() { testHookWalked = nil }()
			done := make(chan walkResult, 1)
			go func() { st, err := readUntrusted(p, walkFull, v); done <- walkResult{st, err} }()
			select {
			case <-waiting:
			case r := <-done:
				t.Fatalf("the read returned before the verdict: %+v", r)
			case <-time.After(time.Minute):
				t.Fatal("the read neither finished nor failed in a minute")
			}
			if walkErr == nil || !strings.Contains(walkErr.Error(), tc.want) {
				t.Fatalf("the read before the verdict: %v, want an error about %q", walkErr, tc.want)
			}
			v.give(false)
			if r := <-done; !errors.Is(r.err, errRefused) || r.st.TotalKey != 0 {
				t.Fatalf("after the hash condemned the content: %+v, want errRefused and no figures", r)
			}
			testHookWalked = nil

			res, _, err := Verify(context.Background(), p, VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.OK() || !strings.Contains(strings.Join(res.Problems, "; "), "appended sha256 does not match") {
				t.Fatalf("verify: problems %v, want etcd's appended sha256 to fail", res.Problems)
			}
			// Without etcd's hash only the read can tell: it must, and say why.
			if err := os.Truncate(p, fi.Size()-32); err != nil {
				t.Fatal(err)
			}
			res, _, err = Verify(context.Background(), p, VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.OK() || !strings.Contains(strings.Join(res.Problems, "; "), tc.want) {
				t.Fatalf("verify without the appended hash: problems %v, want one about %q", res.Problems, tc.want)
			}
		})
	}
}

// On a good snapshot the consistency check (the proof, which covers
// bolt's on etcd's databases, or bolt's own) does not wait for the hash:
// it ends while the verdict is still held back, and the figures are those
// of the sequential read.
func TestBoltCheckDoesNotWaitForTheHash(t *testing.T) {
	p := realSnapshot(t)
	want, err := readStatus(p, walkFull)
	if err != nil {
		t.Fatal(err)
	}
	checked := make(chan error, 1)
	testHookChecked = func(err error) { checked <- err }
	defer func() { testHookChecked = nil }()
	v := newVouch()
	done := make(chan walkResult, 1)
	go func() { st, err := readUntrusted(p, walkFull, v); done <- walkResult{st, err} }()
	select {
	case err := <-checked:
		if err != nil {
			t.Fatalf("bolt's check of a good snapshot: %v", err)
		}
	case r := <-done:
		t.Fatalf("the read returned before the verdict: %+v", r)
	case <-time.After(time.Minute):
		t.Fatal("bolt's check did not end in a minute without the verdict: it waits for the hash")
	}
	v.give(true)
	if r := <-done; r.err != nil || r.st != want {
		t.Fatalf("read beside the hash: %+v, %v; want %+v", r.st, r.err, want)
	}
}

// The pointer proof passes every real snapshot (a false alarm would fail
// good backups), and the concurrent verify gives exactly the figures of the
// sequential read.
func TestVerifyConcurrentMatchesSequential(t *testing.T) {
	p := realSnapshot(t)
	want, err := readStatus(p, walkFull)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readUntrusted(p, walkFull, nil); err != nil || got != want {
		t.Fatalf("untrusted read: %+v, %v; want %+v", got, err, want)
	}
	res, _, err := Verify(context.Background(), p, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || res.Integrity != string(integrityOK) {
		t.Fatalf("verify of a good snapshot: %+v", res)
	}
	got := fmt.Sprint(res.Revision, res.TotalKeys, res.TotalSize, res.Version, res.Hash, res.RaftIndex, res.RaftTerm)
	exp := fmt.Sprint(want.Revision, want.TotalKey, want.TotalSize, want.Version, want.Hash, want.ConsistentIndex, want.Term)
	if got != exp {
		t.Fatalf("verify says %s, the sequential read %s", got, exp)
	}
}

func put16(t *testing.T, path string, off int64, v uint16) {
	t.Helper()
	writeAt(t, path, off, binary.LittleEndian.AppendUint16(nil, v))
}

func put32(t *testing.T, path string, off int64, v uint32) {
	t.Helper()
	writeAt(t, path, off, binary.LittleEndian.AppendUint32(nil, v))
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func copyTo(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
