//go:build !linux

package snapshot

import bolt "go.etcd.io/bbolt"

// trimMapped is Linux's (MADV_DONTNEED); elsewhere the mapping stays.
func trimMapped(db *bolt.DB, size int64) (stop, now func()) { return func() {}, func() {} }
