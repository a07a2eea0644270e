package snapshot

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// bbolt's on-disk layout (go.etcd.io/bbolt/internal/common): a page header
// of 16 bytes (id, flags, count, overflow), then count elements of 16 bytes.
const (
	pageHeaderSize   = 16
	pageElementSize  = 16
	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	metaPageFlag     = 0x04
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01
	bucketHeaderLen  = 16 // root pgid, sequence
	// noFreelist is the meta page's freelist pgid when the freelist is not
	// synced (etcd's databases): bbolt's check then rebuilds it.
	noFreelist = ^uint64(0)
)

// checkPointers follows every page pointer of every bucket tree, from the
// root bucket down to the leaves, the way bbolt's cursor would read them,
// and proves each in bounds, each page reached once (no cycle), and every
// element inside its page, before bbolt follows them unchecked: on content
// no hash has vouched for yet, a damaged pointer would otherwise send the
// cursor outside the file (a fault, recovered as a panic) or round a cycle
// forever. It reads page headers, element tables and keys, not the values.
//
// It also proves what bbolt's own consistency check (tx.Check) needs to
// run safely on the same content, so that the check need not wait for a
// hash: that check runs on a goroutine of bbolt's own, where a fault is a
// crash, and on a database without a synced freelist (etcd's) it first
// rebuilds the free list on a further goroutine that panics, unrecovered,
// at the first problem it finds. So every page of a bucket tree must be
// exactly a branch or a leaf, keys sorted within a page and between the
// keys of the parent (bbolt's verifyKeyOrder, rule for rule), each inline
// bucket one leaf, and a synced freelist page inside the file: each of
// these is a problem bbolt's check reports too, so none rejects a good
// database. Passed, every read of that check stays inside the file and
// its rebuild finds nothing to panic on.
//
// covered: the proof is that check. Without a synced freelist, bbolt's
// check is its rebuild's walk of every bucket tree, the same walk again,
// and a comparison of the pages reached with the free list it just built
// from them; the walk reports pages out of bounds, reached twice, neither
// branch nor leaf, keys out of order, and meta page headers that are not
// theirs: all of which the proof rejects too. It then need not run (its
// two walks, page by page in maps, are most of a read's CPU after the
// hash). With a synced freelist it checks that list against the pages,
// which the proof does not: it still runs.
//
// data is the database's mapping, the file's size long. Every 64 pages
// trim (when set) drops the mapped pages (one touch maps a whole run of the
// page cache) and abort (when set) is asked: true ends it with errAborted.
func checkPointers(tx *bolt.Tx, data []byte, pageSize int, trim func(), abort func() bool) (covered bool, err error) {
	ps := uint64(pageSize)
	npages := min(uint64(tx.Size()), uint64(len(data))) / ps
	seen := make([]uint64, (npages+63)/64)
	mark := func(id uint64) bool {
		w, b := id/64, uint64(1)<<(id%64)
		was := seen[w]&b != 0
		seen[w] |= b
		return was
	}
	if npages < 2 {
		return false, fmt.Errorf("database of %d pages has no room for its meta pages", npages)
	}
	mark(0)
	mark(1)
	le := binary.LittleEndian
	// bbolt's check asserts both meta pages' headers (one bbolt.Open
	// did not pick is not otherwise read).
	for id := uint64(0); id < 2; id++ {
		p := data[id*ps:]
		got, flags := le.Uint64(p), le.Uint16(p[8:])
		if got != id || (flags != branchPageFlag && flags != leafPageFlag && flags != metaPageFlag && flags != freelistPageFlag) {
			return false, fmt.Errorf("meta page %d: its header says page %d, flags %#x", id, got, flags)
		}
	}
	// trees are the bucket roots still to prove; each tree's keys are
	// ordered on their own (bbolt's check starts each bucket afresh).
	trees := []uint64{uint64(tx.Cursor().Bucket().Root())}

	// leaf checks a leaf's elements (b: the page and its overflow, or an
	// inline bucket's page), in key order when ordered, between lo
	// (closed) and hi (open), and queues the buckets they hold. It returns
	// its last key (nil without elements), as bbolt's check does.
	var leaf func(id uint64, b []byte, count int, lo, hi []byte, ordered bool) ([]byte, error)
	// inline checks an inline bucket's page, which bbolt's check never
	// reads (it skips inline buckets) but the walk's cursor does.
	inline := func(id uint64, in []byte) error {
		if len(in) < pageHeaderSize {
			return fmt.Errorf("page %d: inline bucket too short", id)
		}
		flags, count := le.Uint16(in[8:]), int(le.Uint16(in[10:]))
		if pageHeaderSize+count*pageElementSize > len(in) {
			return fmt.Errorf("page %d: %d elements do not fit in its %d bytes", id, count, len(in))
		}
		if flags != leafPageFlag {
			// bbolt writes every inline bucket as one leaf.
			return fmt.Errorf("page %d: an inline bucket's page has flags %#x, not a leaf's", id, flags)
		}
		_, err := leaf(id, in, count, nil, nil, false)
		return err
	}
	leaf = func(id uint64, b []byte, count int, lo, hi []byte, ordered bool) ([]byte, error) {
		var last []byte
		for i := 0; i < count; i++ {
			e := pageHeaderSize + i*pageElementSize
			ef := le.Uint32(b[e:])
			pos, ksize, vsize := uint64(le.Uint32(b[e+4:])), uint64(le.Uint32(b[e+8:])), uint64(le.Uint32(b[e+12:]))
			end := uint64(e) + pos + ksize + vsize
			if end > uint64(len(b)) {
				return nil, fmt.Errorf("page %d: leaf element %d out of its page", id, i)
			}
			k := b[uint64(e)+pos : uint64(e)+pos+ksize]
			if ordered {
				if err := keyOrder(id, i, k, last, lo, hi); err != nil {
					return nil, err
				}
			}
			last = k
			if ef&bucketLeafFlag == 0 {
				continue
			}
			v := b[uint64(e)+pos+ksize : end]
			if len(v) < bucketHeaderLen {
				return nil, fmt.Errorf("page %d: bucket element %d too short", id, i)
			}
			if root := le.Uint64(v); root != 0 {
				trees = append(trees, root)
				continue
			}
			// An inline bucket: its page is the rest of the value.
			if len(v) < bucketHeaderLen+pageHeaderSize {
				return nil, fmt.Errorf("page %d: inline bucket %d too short", id, i)
			}

			err := inline(id, v[bucketHeaderLen:])

			if err != nil {
				return nil, err
			}
		}
		return last, nil
	}

	visited := 0
	// page proves page id of a bucket tree, whose keys lie in [lo, hi),
	// and the pages below it; it returns the subtree's last key.
	var page func(id uint64, lo, hi []byte) ([]byte, error)
	page = func(id uint64, lo, hi []byte) ([]byte, error) {
		if visited++; visited%64 == 0 {
			if trim != nil {
				trim()
			}
			if abort != nil && abort() {
				return nil, errAborted
			}
		}
		if id < 2 || id >= npages {
			return nil, fmt.Errorf("page %d: out of bounds (the database has %d pages)", id, npages)
		}
		p := data[id*ps:]
		if got := le.Uint64(p); got != id {
			return nil, fmt.Errorf("page %d: its header says page %d", id, got)
		}
		span := 1 + uint64(le.Uint32(p[12:]))
		if id+span > npages {
			return nil, fmt.Errorf("page %d: %d overflow pages run past the end (%d pages)", id, span-1, npages)
		}
		for i := id; i < id+span; i++ {
			if mark(i) {
				return nil, fmt.Errorf("page %d: reached twice (a cycle or a shared page)", i)
			}
		}
		b := data[id*ps : (id+span)*ps]
		flags, count := le.Uint16(b[8:]), int(le.Uint16(b[10:]))
		if pageHeaderSize+count*pageElementSize > len(b) {
			return nil, fmt.Errorf("page %d: %d elements do not fit in its %d bytes", id, count, len(b))
		}
		switch {
		case flags == leafPageFlag:
			return leaf(id, b, count, lo, hi, true)
		case flags != branchPageFlag:
			return nil, fmt.Errorf("page %d: flags %#x are neither a branch's nor a leaf's", id, flags)
		case count == 0:
			return nil, fmt.Errorf("page %d: branch page without elements", id)
		}
		key := func(i int) ([]byte, error) {
			e := pageHeaderSize + i*pageElementSize
			pos, ksize := uint64(le.Uint32(b[e:])), uint64(le.Uint32(b[e+4:]))
			if uint64(e)+pos+ksize > uint64(len(b)) {
				return nil, fmt.Errorf("page %d: branch element %d out of its page", id, i)
			}
			return b[uint64(e)+pos : uint64(e)+pos+ksize], nil
		}
		for i := 0; i < count; i++ {
			if _, err := key(i); err != nil {
				return nil, err
			}
		}
		// As bbolt's check: each key after the last key of the subtree
		// before it, each subtree below the next key.
		running := lo
		for i := 0; i < count; i++ {
			k, _ := key(i)
			if err := keyOrder(id, i, k, running, running, hi); err != nil {
				return nil, err
			}
			next := hi
			if i < count-1 {
				next, _ = key(i + 1)
			}
			e := pageHeaderSize + i*pageElementSize
			sub, err := page(le.Uint64(b[e+8:]), k, next)
			if err != nil {
				return nil, err
			}
			running = sub
		}
		return running, nil
	}
	for len(trees) > 0 {
		root := trees[len(trees)-1]
		trees = trees[:len(trees)-1]
		if _, err := page(root, nil, nil); err != nil {
			return false, err
		}
	}
	synced, err := freelistFits(tx, data, ps, npages)
	return !synced && err == nil, err
}

// keyOrder is bbolt's verifyKeyOrder: element i's key k after prev (the
// key before it; for the first, lo, the parent's key) and below hi.
func keyOrder(id uint64, i int, k, prev, lo, hi []byte) error {
	switch {
	case i == 0 && lo != nil && bytes.Compare(lo, k) > 0:
		return fmt.Errorf("page %d: key %d is below its parent's key", id, i)
	case i > 0 && bytes.Compare(prev, k) >= 0:
		return fmt.Errorf("page %d: key %d is not above the key before it", id, i)
	case hi != nil && bytes.Compare(k, hi) >= 0:
		return fmt.Errorf("page %d: key %d is not below the next key of its parent", id, i)
	}
	return nil
}

// freelistFits proves the synced freelist page, if any, inside the file:
// bbolt's check reads its page ids. Which meta page the transaction uses
// is the one with its txid; two alike are both proven. synced: there is
// one (bbolt's check then compares it with the pages reached).
func freelistFits(tx *bolt.Tx, data []byte, ps, npages uint64) (synced bool, err error) {
	le := binary.LittleEndian
	found := false
	for m := uint64(0); m < 2; m++ {
		b := data[m*ps:]
		if uint64(len(b)) < pageHeaderSize+64 || le.Uint64(b[64:]) != uint64(tx.ID()) {
			continue
		}
		found = true
		fl := le.Uint64(b[48:])
		if fl == noFreelist {
			continue
		}
		synced = true
		if fl < 2 || fl >= npages {
			return true, fmt.Errorf("freelist page %d: out of bounds (the database has %d pages)", fl, npages)
		}
		p := data[fl*ps:]
		span := 1 + uint64(le.Uint32(p[12:]))
		if le.Uint16(p[8:]) != freelistPageFlag || le.Uint64(p) != fl || fl+span > npages {
			return true, fmt.Errorf("freelist page %d: not a freelist page inside the file", fl)
		}
		n, idx := uint64(le.Uint16(p[10:])), uint64(0)
		if n == 0xFFFF {
			n, idx = le.Uint64(p[pageHeaderSize:]), 1
		}
		if n > span*ps/8 || pageHeaderSize+(idx+n)*8 > span*ps {
			return true, fmt.Errorf("freelist page %d: %d ids do not fit in its pages", fl, n)
		}
	}
	if !found {
		return synced, fmt.Errorf("no meta page has the transaction's id %d", tx.ID())
	}
	return synced, nil
}

// mapped is the database's read-only mapping as a byte slice, size bytes
// (the file's size; bbolt maps more, past the end of the file).
func mapped(db *bolt.DB, size int64) []byte {
	addr := db.Info().Data
	// The mapping is outside Go's heap and lives until db.Close: reading
	// the address as a pointer is what bbolt itself does with it.
	return unsafe.Slice((*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&addr))), size)
}
