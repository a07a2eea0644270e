//go:build linux

package snapshot

import (
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// trimInterval is how often the mapping is trimmed during a bolt read.
const trimInterval = 2 * time.Millisecond

// trimMapped keeps bbolt's read-only mapping of a database file from
// growing the process's resident set while the check walks it: every
// trimInterval the mapping's pages are dropped from this process's page
// tables (MADV_DONTNEED). The file's pages stay in the page cache and a
// later read of the mapping faults them back in unchanged (a shared,
// read-only file mapping), so what bbolt reads is the file either way; the
// resident set holds only what was touched since the last trim, instead of
// every page touched plus the kernel's fault-around neighbours.
// now trims at once (the walk calls it as it goes: bursts of reads
// between two ticks are bounded too).
func trimMapped(db *bolt.DB, size int64) (stop, now func()) {
	if size <= 0 {
		return func() {}, func() {}
	}
	// The mapping is outside Go's heap: its address and length go to the
	// system call as they are.
	addr := db.Info().Data
	// Random access: no readahead into the mapping.
	syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(size), syscall.MADV_RANDOM)
	trim := func() { syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(size), syscall.MADV_DONTNEED) }
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(trimInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				trim()
			}
		}
	}()
	return func() { close(done); <-finished }, trim
}
