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

// A damaged page pointer that the bolt read meets while the hash is still
// running (the verdict is held back until the read is waiting for it) is
// an error of the read, not a fault, a hang or a crash, and the read
// reports nothing once the verdict condemns the content. Verify, hash and
// read racing as they do, calls the file corrupted, with etcd's appended
// hash and without it.
func TestCorruptPointerMetBeforeTheHash(t *testing.T) {
	good := realSnapshot(t)
	root, pageSize := keyRoot(t, good)
	fi, err := os.Stat(good)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		child uint64
		want  string
	}{
		// Past bbolt's mapping: a fault.
		{"out of bounds", 1 << 40, "out of bounds"},
		// Between the end of the file and the end of bbolt's mapping.
		{"past the end of the file", uint64(fi.Size())/uint64(pageSize) + 3, "out of bounds"},
		// bbolt's cursor would descend forever.
		{"cycle", root, "reached twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "s.db")
			copyTo(t, good, p)
			pointTo(t, p, root, pageSize, tc.child)

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
