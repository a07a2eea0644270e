package health

import (
	"os"
	"syscall"
)

// fdatasync is what etcd's WAL calls on Linux (fileutil.Fdatasync).
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

// freeBytes is the space an unprivileged writer (etcd) can use on dir's filesystem.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
