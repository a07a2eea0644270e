package snapshot

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// etcdStatus is what etcdutl snapshot status reports (its Status type,
// field for field and with the same JSON names, so the two compare equal).
type etcdStatus struct {
	Hash      uint32 `json:"hash"`
	Revision  int64  `json:"revision"`
	TotalKey  int    `json:"totalKey"`
	TotalSize int64  `json:"totalSize"`
	Version   string `json:"version"`
}

// dbStatus is what a full read of the bolt file says.
type dbStatus struct {
	etcdStatus
	ConsistentIndex uint64
	Term            uint64
}

// readStatus checks and reads a bolt database file (see walkBolt). bbolt
// can panic on a damaged page rather than return an error; that is a
// corrupted file, not a crash of this tool.
func readStatus(path string, mode walkMode) (st dbStatus, err error) {
	if err := checkBounds(path); err != nil {
		return st, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bolt database unreadable: %v", r)
		}
	}()
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true})
	if err != nil {
		return st, err
	}
	defer db.Close()
	var trim func()
	if fi, err := os.Stat(path); err == nil {
		stop, now := trimMapped(db, fi.Size())
		defer stop()
		trim = now
	}
	err = db.View(func(tx *bolt.Tx) error {
		st, err = walkBolt(tx, mode, trim)
		return err
	})
	return st, err
}

const boltMagic = 0xED0CDAED

// checkBounds compares the size the bolt meta page declares with the file's
// size. bbolt maps the file and trusts its page numbers: reading a truncated
// file would fault the process, so truncation is caught here, by arithmetic.
func checkBounds(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := readable(f); err != nil {
		return fmt.Errorf("locked by another process (a running etcd on its own database?): %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	// The first meta page (offset 0) says the page size; the second sits one page in.
	var hdr [80]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return fmt.Errorf("not a bolt database: %d bytes", fi.Size())
	}
	type meta struct{ pageSize, pgid, txid uint64 }
	parse := func(b []byte) (meta, bool) {
		le := binary.LittleEndian
		if le.Uint32(b[16:]) != boltMagic {
			return meta{}, false
		}
		return meta{pageSize: uint64(le.Uint32(b[24:])), pgid: le.Uint64(b[56:]), txid: le.Uint64(b[64:])}, true
	}
	m0, ok0 := parse(hdr[:])
	if !ok0 || m0.pageSize < 512 || m0.pageSize > 1<<20 {
		return fmt.Errorf("not a bolt database: no valid meta page at offset 0")
	}
	best := m0
	if _, err := f.ReadAt(hdr[:], int64(m0.pageSize)); err == nil {
		if m1, ok := parse(hdr[:]); ok && m1.txid > m0.txid {
			best = m1
		}
	}
	if want := best.pgid * best.pageSize; uint64(fi.Size()) < want {
		return fmt.Errorf("truncated: the database declares %d pages of %d bytes (%d bytes) but the file has %d bytes",
			best.pgid, best.pageSize, want, fi.Size())
	}
	return nil
}
