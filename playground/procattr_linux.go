package playground

import "syscall"

// Members die with the process that started them, even if it is SIGKILLed.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
