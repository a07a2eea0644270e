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

// preallocate reserves the file's blocks as etcd does for each WAL segment
// (fileutil.Preallocate, fallocate mode 0) and fio does by default
// (fallocate=native): fdatasync then converts extents instead of growing the file.
func preallocate(f *os.File, size int64) error {
	err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if err == syscall.ENOTSUP || err == syscall.EOPNOTSUPP {
		return nil // tmpfs and some network filesystems: appending is all there is
	}
	return err
}
