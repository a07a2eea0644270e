//go:build unix

package snapshot

import (
	"os"
	"syscall"
)

// lockFile locks an in-progress file. The owner holds a shared lock, so bbolt
// (which takes a shared lock to read) can still open it; cleanup asks for an
// exclusive lock without waiting, which only succeeds once the owner is gone.
// The kernel drops the lock when the process dies, however it dies.
func lockFile(f *os.File, probe bool) error {
	how := syscall.LOCK_SH
	if probe {
		how = syscall.LOCK_EX | syscall.LOCK_NB
	}
	return syscall.Flock(int(f.Fd()), how)
}

// readable fails when another process holds an exclusive lock on the file (a
// running etcd on its own db): bbolt would wait for it forever.
func readable(f *os.File) error {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return err
	}
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
