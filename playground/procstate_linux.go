package playground

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// waitStopped returns once every thread of pid is stopped (or traced), an
// error after timeout. kill(2) returns before a signalled process has stopped:
// a request sent at once could still be answered by a thread that was on
// another CPU, and a test that "froze" a member would see it answer.
func waitStopped(pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		all, err := threadsStopped(pid)
		if err != nil || all {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d: not stopped after %s", pid, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// threadsStopped reports whether every thread of pid is in state T or t
// (/proc/pid/task/*/stat: the state follows the command name's ')').
func threadsStopped(pid int) (bool, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, t := range tasks {
		stat, err := os.ReadFile(dir + "/" + t.Name() + "/stat")
		if err != nil {
			continue // the thread exited
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) {
			return false, fmt.Errorf("%s/stat: %q", t.Name(), stat)
		}
		if s := stat[i+2]; s != 'T' && s != 't' {
			return false, nil
		}
	}
	return true, nil
}
