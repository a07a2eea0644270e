package snapshot

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// bbolt's on-disk layout (go.etcd.io/bbolt/internal/common): a page header
// of 16 bytes (id, flags, count, overflow), then count elements of 16 bytes.
const (
	pageHeaderSize  = 16
	pageElementSize = 16
	leafPageFlag    = 0x02
	bucketLeafFlag  = 0x01
	bucketHeaderLen = 16 // root pgid, sequence
)

// checkPointers follows every page pointer of every bucket tree, from the
// root bucket down to the leaves, the way bbolt's cursor would read them,
// and proves each in bounds, each page reached once (no cycle), and every
// element inside its page, before bbolt follows them unchecked: on content
// no hash has vouched for yet, a damaged pointer would otherwise send the
// cursor outside the file (a fault, recovered as a panic) or round a cycle
// forever. It reads page headers and element tables, not the values.
// data is the database's mapping, the file's size long. Every 64 pages
// trim (when set) drops the mapped pages (one touch maps a whole run of the
// page cache) and abort (when set) is asked: true ends it with errAborted.
func checkPointers(tx *bolt.Tx, data []byte, pageSize int, trim func(), abort func() bool) error {
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
		return fmt.Errorf("database of %d pages has no room for its meta pages", npages)
	}
	mark(0)
	mark(1)
	le := binary.LittleEndian
	stack := []uint64{uint64(tx.Cursor().Bucket().Root())}
	// node checks one page's elements (b: the page and its overflow, or an
	// inline bucket's page) and stacks what the cursor would follow next.
	var node func(id uint64, b []byte) error
	node = func(id uint64, b []byte) error {
		flags, count := le.Uint16(b[8:]), int(le.Uint16(b[10:]))
		if pageHeaderSize+count*pageElementSize > len(b) {
			return fmt.Errorf("page %d: %d elements do not fit in its %d bytes", id, count, len(b))
		}
		if flags&leafPageFlag == 0 {
			// The cursor takes every page that is not a leaf for a branch.
			if count == 0 {
				return fmt.Errorf("page %d: branch page without elements", id)
			}
			for i := 0; i < count; i++ {
				e := pageHeaderSize + i*pageElementSize
				pos, ksize := uint64(le.Uint32(b[e:])), uint64(le.Uint32(b[e+4:]))
				if uint64(e)+pos+ksize > uint64(len(b)) {
					return fmt.Errorf("page %d: branch element %d out of its page", id, i)
				}
				stack = append(stack, le.Uint64(b[e+8:]))
			}
			return nil
		}
		for i := 0; i < count; i++ {
			e := pageHeaderSize + i*pageElementSize
			ef := le.Uint32(b[e:])
			pos, ksize, vsize := uint64(le.Uint32(b[e+4:])), uint64(le.Uint32(b[e+8:])), uint64(le.Uint32(b[e+12:]))
			end := uint64(e) + pos + ksize + vsize
			if end > uint64(len(b)) {
				return fmt.Errorf("page %d: leaf element %d out of its page", id, i)
			}
			if ef&bucketLeafFlag == 0 {
				continue
			}
			v := b[uint64(e)+pos+ksize : end]
			if len(v) < bucketHeaderLen {
				return fmt.Errorf("page %d: bucket element %d too short", id, i)
			}
			if root := le.Uint64(v); root != 0 {
				stack = append(stack, root)
				continue
			}
			// An inline bucket: its page is the rest of the value.
			if in := v[bucketHeaderLen:]; len(in) < pageHeaderSize {
				return fmt.Errorf("page %d: inline bucket %d too short", id, i)
			} else if err := node(id, in); err != nil {
				return err
			}
		}
		return nil
	}
	for n := 1; len(stack) > 0; n++ {
		if n%64 == 0 {
			if trim != nil {
				trim()
			}
			if abort != nil && abort() {
				return errAborted
			}
		}
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if id < 2 || id >= npages {
			return fmt.Errorf("page %d: out of bounds (the database has %d pages)", id, npages)
		}
		p := data[id*ps:]
		if got := le.Uint64(p); got != id {
			return fmt.Errorf("page %d: its header says page %d", id, got)
		}
		span := 1 + uint64(le.Uint32(p[12:]))
		if id+span > npages {
			return fmt.Errorf("page %d: %d overflow pages run past the end (%d pages)", id, span-1, npages)
		}
		for i := id; i < id+span; i++ {
			if mark(i) {
				return fmt.Errorf("page %d: reached twice (a cycle or a shared page)", i)
			}
		}
		if err := node(id, data[id*ps:(id+span)*ps]); err != nil {
			return err
		}
	}
	return nil
}

// mapped is the database's read-only mapping as a byte slice, size bytes
// (the file's size; bbolt maps more, past the end of the file).
func mapped(db *bolt.DB, size int64) []byte {
	addr := db.Info().Data
	// The mapping is outside Go's heap and lives until db.Close: reading
	// the address as a pointer is what bbolt itself does with it.
	return unsafe.Slice((*byte)(*(*unsafe.Pointer)(unsafe.Pointer(&addr))), size)
}
