//go:build !linux

package playground

import "syscall"

// Without Pdeathsig, members watch their parent PID instead (see watchParent).
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
