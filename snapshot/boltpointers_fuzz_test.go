package snapshot

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// pages is a bolt file read whole, for tests that damage it on purpose.
type pages struct {
	b    []byte
	ps   uint64
	root uint64 // the root bucket's root page
}

func parsePages(t *testing.T, path string) *pages {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	ps := uint64(le.Uint32(b[24:]))
	meta := b[:ps]
	if m1 := b[ps : 2*ps]; le.Uint64(m1[64:]) > le.Uint64(meta[64:]) {
		meta = m1
	}
	return &pages{b: b, ps: ps, root: le.Uint64(meta[32:])}
}

func (g *pages) page(id uint64) (flags uint16, count int, body []byte) {
	le := binary.LittleEndian
	p := g.b[id*g.ps:]
	span := 1 + uint64(le.Uint32(p[12:]))
	return le.Uint16(p[8:]), int(le.Uint16(p[10:])), g.b[id*g.ps : (id+span)*g.ps]
}

// firstLeaf descends the first children of branch page id to a leaf of
// two or more elements.
func (g *pages) firstLeaf(t *testing.T, id uint64) uint64 {
	t.Helper()
	for {
		flags, count, body := g.page(id)
		if flags == leafPageFlag {
			if count < 2 {
				t.Fatalf("leaf page %d has %d elements: seed more", id, count)
			}
			return id
		}
		id = binary.LittleEndian.Uint64(body[16+8:])
	}
}

// inlineBucket is the file offset of the page of an inline bucket of the
// root bucket (etcd's small buckets are inline).
func (g *pages) inlineBucket(t *testing.T) int64 {
	t.Helper()
	le := binary.LittleEndian
	flags, count, body := g.page(g.root)
	if flags != leafPageFlag {
		t.Fatalf("the root bucket's page %d is not a leaf (flags %#x)", g.root, flags)
	}
	for i := 0; i < count; i++ {
		e := 16 + i*16
		pos, ksize, vsize := int(le.Uint32(body[e+4:])), int(le.Uint32(body[e+8:])), int(le.Uint32(body[e+12:]))
		v := body[e+pos+ksize : e+pos+ksize+vsize]
		if le.Uint32(body[e:])&bucketLeafFlag != 0 && le.Uint64(v) == 0 && len(v) >= 32 {
			return int64(g.root*g.ps) + int64(e+pos+ksize) + 16
		}
	}
	t.Fatal("the root bucket holds no inline bucket")
	return 0
}

// treePages lists the pages of every bucket tree, from the root bucket down.
func (g *pages) treePages() []uint64 {
	le := binary.LittleEndian
	var out []uint64
	var walk func(id uint64)
	walk = func(id uint64) {
		out = append(out, id)
		flags, count, body := g.page(id)
		for i := 0; i < count; i++ {
			e := 16 + i*16
			if flags == branchPageFlag {
				walk(le.Uint64(body[e+8:]))
				continue
			}
			pos, ksize, vsize := int(le.Uint32(body[e+4:])), int(le.Uint32(body[e+8:])), int(le.Uint32(body[e+12:]))
			if le.Uint32(body[e:])&bucketLeafFlag != 0 {
				if root := le.Uint64(body[e+pos+ksize : e+pos+ksize+vsize]); root != 0 {
					walk(root)
				}
			}
		}
	}
	walk(g.root)
	return out
}

// Whatever byte of a bucket tree's page headers, element tables or keys
// is damaged, the read beside the hash (bolt's check included, which runs
// before any verdict on what the proof passed) returns: a fault or a panic
// on a goroutine of bbolt's own would end this test binary. Half the reads
// are told the hash vouched, half that none will. And where the proof
// passes a damaged copy, bbolt's own check must find nothing either: the
// proof stands in for it (covered) and must be at least as strict.
func TestDamagedPagesNeverCrashTheRead(t *testing.T) {
	good := realSnapshot(t)
	if proved, err := proofAgreesWithBolt(good); !proved || err != nil {
		t.Fatalf("the good snapshot: proved %v, %v", proved, err)
	}
	g := parsePages(t, good)
	// The meta pages too: bbolt's check asserts both headers.
	tree := append(g.treePages(), 0, 1)
	rnd := rand.New(rand.NewPCG(14, 14))
	p := filepath.Join(t.TempDir(), "s.db")
	failed := 0
	const rounds = 400
	for i := 0; i < rounds; i++ {
		b := append([]byte(nil), g.b...)
		id := tree[rnd.IntN(len(tree))]
		_, count, body := g.page(id)
		// Mostly the header and element table; sometimes anywhere in the
		// page (keys, values, inline buckets).
		n := 16 + count*16
		if rnd.IntN(3) == 0 || n > len(body) {
			n = len(body)
		}
		off := id*g.ps + uint64(rnd.IntN(n))
		b[off] = byte(rnd.IntN(256))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		var v *vouch
		if i%2 == 1 {
			v = newVouch()
			v.give(true)
		}
		done := make(chan error, 1)
		go func() { _, err := readUntrusted(p, walkFull, v); done <- err }()
		select {
		case err := <-done:
			if err != nil {
				failed++
			}
			if _, err := proofAgreesWithBolt(p); err != nil {
				t.Fatalf("round %d: byte %d of page %d set to %#x: %v", i, off, id, b[off], err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("round %d: byte %d of page %d set to %#x: the read hangs", i, off, id, b[off])
		}
	}
	t.Logf("%d of %d damaged copies failed the read, none crashed it", failed, rounds)
}

// proofAgreesWithBolt fails where the pointer proof passes the file
// (proved) but bbolt's check (safe to run once the proof passed) finds a
// problem.
func proofAgreesWithBolt(path string) (proved bool, err error) {
	if checkBounds(path) != nil {
		return false, nil
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true})
	if err != nil {
		return false, nil
	}
	defer db.Close()
	fi, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	err = db.View(func(tx *bolt.Tx) error {
		var covered bool
		if recovered(func() (err error) {
			covered, err = checkPointers(tx, mapped(db, fi.Size()), db.Info().PageSize, nil, nil)
			return err
		}) != nil {
			return nil
		}
		proved = true
		if !covered {
			return fmt.Errorf("the proof does not cover bbolt's check of an etcd database")
		}
		if err := checkBolt(tx); err != nil {
			return fmt.Errorf("the proof passed, bbolt's check did not: %w", err)
		}
		return nil
	})
	return proved, err
}
