package playground

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A member killed from outside is reported with its name, pid, how it ended
// and where its log is; exits the harness asks for (Kill, Stop) are not.
func TestMemberExitReported(t *testing.T) {
	exits := make(chan MemberExit, 4)
	c, err := Start(context.Background(), Options{Members: 1, OnExit: func(e MemberExit) { exits <- e }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	m := c.Member(0)

	// ps names the member and where its data is.
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(m.PID()) + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(args) < 3 || args[1] != "playground-member" || args[2] != m.Name || !strings.Contains(string(cmdline), m.Dir) {
		t.Fatalf("member argv %q does not name %s and %s", args, m.Name, m.Dir)
	}

	pid := m.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-exits:
		if e.Name != m.Name || e.PID != pid || e.Status != "signal: killed" || e.Log != m.LogPath() {
			t.Fatalf("report %+v, want %s pid %d signal: killed log %s", e, m.Name, pid, m.LogPath())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no report within 30 s of SIGKILL")
	}

	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-exits:
		t.Fatalf("an exit the harness asked for was reported: %+v", e)
	default:
	}
}

// A member stopped from outside (kill -STOP, as a user trying the tool
// does) still stops at once when the playground does: it is continued
// before it is asked to exit, not SIGKILLed after the 10 s grace.
func TestStopContinuesAMemberStoppedFromOutside(t *testing.T) {
	c, err := Start(context.Background(), Options{Members: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := c.Member(0)
	if err := syscall.Kill(m.PID(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := waitStopped(m.PID(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("stopping a playground with a member stopped from outside took %s", took)
	}
	if ok, status := m.exited(); !ok || status != "exit status 0" {
		t.Fatalf("the member exited %v with %q; want a clean exit, not a SIGKILL", ok, status)
	}
}
