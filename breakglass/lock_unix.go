package breakglass

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on f, released when f is closed: two
// runs appending at once would otherwise pick the same seq or interleave.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}
