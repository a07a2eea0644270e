//go:build !linux

package health

import (
	"errors"
	"os"
)

// fdatasync falls back to fsync where there is no fdatasync.
func fdatasync(f *os.File) error { return f.Sync() }

func freeBytes(string) (int64, error) {
	return 0, errors.New("free space is only measured on Linux")
}

func preallocate(*os.File, int64) error { return nil }
