package breakglass

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// Exclusive holds the node's change lock while a step plans and changes
// things, so two break-glass runs on one node never interleave their moves
// or edits: the second is refused at once (exit 4), naming the process that
// holds it, instead of waiting behind a ramp that may last an hour.
//
// The lock is flock(2) on the static-pod directory itself (the state dir
// when there is none): nothing is created, so a refused or unconfirmed run
// leaves every file as it was, and the kernel drops the lock when its holder
// dies, so a killed run never leaves the node locked.
func (l *Layout) Exclusive() (release func(), err error) {
	dir := ""
	for _, d := range []string{l.ManifestDir, l.StateDir} {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			dir = d
			break
		}
	}
	if dir == "" {
		// Nothing shared to change yet: the step fails on its own terms.
		return func() {}, nil
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("change lock on %s: %w", dir, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		who := lockHolder(f)
		f.Close()
		// No command to run next: one printed here could not carry the
		// caller's --root/--state-dir; the journal's path says where to look.
		return nil, fault.Mark(fmt.Errorf("another etcdmedic breakglass run (%s) is changing this node (it holds a lock on %s): let it finish, then read what it did in %s", who, l.Rel(dir), l.JournalPath()), fault.Refused)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("change lock on %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

// lockHolder names the process holding a flock on f's inode, from
// /proc/locks ("1: FLOCK ADVISORY WRITE 4242 fd:01:1234 0 EOF").
func lockHolder(f *os.File) string {
	fi, err := f.Stat()
	st, ok := fi.Sys().(*syscall.Stat_t)
	if err != nil || !ok {
		return "another process"
	}
	locks, err := os.Open("/proc/locks")
	if err != nil {
		return "another process"
	}
	defer locks.Close()
	inode := fmt.Sprintf(":%d", st.Ino)
	s := bufio.NewScanner(locks)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 6 && fields[1] == "FLOCK" && strings.HasSuffix(fields[5], inode) {
			pid := fields[4]
			if cmd, err := os.ReadFile("/proc/" + pid + "/cmdline"); err == nil {
				words := strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")
				return "pid " + pid + ": " + strings.Join(subcommand(words), " ")
			}
			return "pid " + pid
		}
	}
	return "another process"
}

// subcommand is the holder's command words without its flags and their
// values (a flag value could be a secret).
func subcommand(argv []string) []string {
	var w []string
	for _, a := range argv {
		if strings.HasPrefix(a, "-") {
			break
		}
		w = append(w, a)
	}
	return w
}
