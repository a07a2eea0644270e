package snapshot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"

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

// readStatus checks and reads a bolt database file (see walkContent) whose
// content a hash already vouched for. bbolt can panic on a damaged page
// rather than return an error; that is a corrupted file, not a crash of
// this tool.
func readStatus(path string, mode walkMode) (dbStatus, error) {
	return readBolt(path, mode, false, nil)
}

// vouch carries a hash's verdict, computed beside a bolt read, to it: ok
// is set before done is closed.
type vouch struct {
	done chan struct{}
	once sync.Once
	ok   bool
}

func newVouch() *vouch { return &vouch{done: make(chan struct{})} }

// give settles the verdict; only the first one counts; nil is a no-op.
func (v *vouch) give(ok bool) {
	if v == nil {
		return
	}
	v.once.Do(func() { v.ok = ok; close(v.done) })
}

// refused reports a verdict already given against the content.
func (v *vouch) refused() bool {
	select {
	case <-v.done:
		return !v.ok
	default:
		return false
	}
}

// errRefused is a read whose content the hash condemned: its figures mean nothing.
var errRefused = errors.New("bolt read abandoned: the hash condemned the content")

// readUntrusted reads a bolt database no hash has vouched for yet: it
// proves every page pointer first (checkPointers), so bbolt's cursor cannot
// leave the file or loop, then walks the content, on this goroutine, where
// a fault is a recovered panic. bbolt's consistency check runs on a
// goroutine of bbolt's own, where a fault, or a problem its free-page scan
// finds, is a crash, not an error: it runs only on content the proof
// passed (which covers what it reads), beside the walk and, with v, the
// hash (which runs meanwhile); a read v refused returns errRefused, once
// the check is done with the mapping. Its verdict is given first, as in
// etcdutl's order.
func readUntrusted(path string, mode walkMode, v *vouch) (dbStatus, error) {
	return readBolt(path, mode, true, v)
}

func readBolt(path string, mode walkMode, prove bool, v *vouch) (st dbStatus, err error) {
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
	fi, err := os.Stat(path)
	if err != nil {
		return st, err
	}
	stop, trim := trimMapped(db, fi.Size())
	defer stop()
	if !prove {
		return readVouched(db, fi.Size(), mode, trim)
	}
	err = db.View(func(tx *bolt.Tx) error {
		var abort func() bool
		if v != nil {
			abort = v.refused
		}
		var covered bool
		walkErr := recovered(func() (err error) {
			covered, err = checkPointers(tx, mapped(db, fi.Size()), db.Info().PageSize, trim, abort)
			return err
		})
		// Proven, bolt's check cannot fault or panic on its goroutine
		// whatever the hash will say: it runs beside the walk (and the
		// hash) instead of after them, in a read transaction of its own
		// on the same, read-only, database. Not proven, it never runs;
		// covered by the proof (no synced freelist), it need not.
		var checked chan error
		switch {
		case walkErr == nil && covered:
			if testHookChecked != nil {
				testHookChecked(nil)
			}
		case walkErr == nil:
			checked = make(chan error, 1)
			go func() {
				err := db.View(checkBolt)
				if testHookChecked != nil {
					testHookChecked(err)
				}
				checked <- err
			}()
		}
		if walkErr == nil {
			walkErr = recovered(func() (err error) {
				st, err = walkContent(tx, mode, trim, abort)
				return err
			})
		}
		if v != nil {
			trim()
			if testHookWalked != nil {
				testHookWalked(walkErr)
			}
			<-v.done
		}
		var checkErr error
		if checked != nil {
			// Waited for even when refused: it reads the mapping.
			checkErr = <-checked
		}
		if v != nil && !v.ok {
			return errRefused
		}
		// The check's verdict comes first, as in etcdutl's order.
		if checkErr != nil {
			return checkErr
		}
		return walkErr
	})
	return st, err
}

// readVouched reads content a hash vouched for: bolt's consistency check
// (the pointer proof where it covers the check, else bbolt's own; on a
// goroutine and in a read transaction of its own) and the walk (on this
// one) side by side, on both cores; the check's verdict first, as in
// etcdutl's order. Both trim the mapping as they go: the ticker alone fell
// behind the proof on a busy machine (it touches pages faster than a
// walk), and a save's peak RSS on small keys reached 117 MiB.
func readVouched(db *bolt.DB, size int64, mode walkMode, trim func()) (dbStatus, error) {
	checked := make(chan error, 1)
	go func() {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		checked <- db.View(func(tx *bolt.Tx) error {
			var covered bool
			err := recovered(func() (err error) {
				covered, err = checkPointers(tx, mapped(db, size), db.Info().PageSize, trim, nil)
				return err
			})
			if err != nil || covered {
				return err
			}
			return checkBolt(tx)
		})
	}()
	var st dbStatus
	walkErr := recovered(func() error {
		return db.View(func(tx *bolt.Tx) (err error) {
			st, err = walkContent(tx, mode, trim, nil)
			return err
		})
	})
	if err := <-checked; err != nil {
		return dbStatus{}, err
	}
	return st, walkErr
}

// testHookWalked, set by a test, sees a read beside a hash once it waits
// for the verdict (with what the walk found).
var testHookWalked func(walkErr error)

// testHookChecked, set by a test, sees the consistency check of an
// unvouched read end (bolt's, or the proof where it covers bolt's), with
// its verdict, before the read looks at the hash's.
var testHookChecked func(checkErr error)

// recovered runs fn, a panic (a fault, under SetPanicOnFault) its error.
func recovered(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bolt database unreadable: %v", r)
		}
	}()
	return fn()
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
