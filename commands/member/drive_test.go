package member_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/member"
	"github.com/etcdmedic/etcdmedic/playground"
)

// replaceRun is one `member replace` driven the way an operator runs it:
// NEW started from the flags its journal carries, OLD stopped (SIGTERM)
// when the journal asks for it. At is when each step was first seen done
// (the journal polled every 50 ms), Started when NEW's process started,
// Stopping/Stopped when OLD was signalled and gone (Stopped once waitOld
// has returned).
type replaceRun struct {
	Old, Name, ClientURL  string
	Began, Started, Ended time.Time
	Stopping, Stopped     time.Time
	At                    map[string]time.Time
	Res                   clitest.Result

	stopDone  chan struct{}
	stopErr   error
	stoppedAt time.Time
}

// waitOld waits until OLD's process, once signalled, has exited.
func (r *replaceRun) waitOld(t testing.TB) {
	t.Helper()
	if r.Stopping.IsZero() {
		return
	}
	<-r.stopDone
	if r.stopErr != nil {
		t.Fatal(r.stopErr)
	}
	r.Stopped = r.stoppedAt
}

// driveReplace replaces old by a new member name, reaching the cluster
// through eps, and returns once the command has ended. OLD's process may
// still be exiting then (etcd answers nothing from early in its shutdown,
// which takes another second): an operator runs the next command without
// waiting for it, and waitOld (or the test's end) does.
func driveReplace(t testing.TB, c *playground.Cluster, old, name, eps string, extra ...string) *replaceRun {
	t.Helper()
	clientURL, peerURL := newURLs(t, c)
	state := filepath.Join(t.TempDir(), "replace-"+name+".json")
	r := &replaceRun{Old: old, Name: name, ClientURL: clientURL, At: map[string]time.Time{}}
	args := append([]string{"member", "replace", old, "--name", name, "--peer-urls", peerURL, "--state-file", state, "--yes", "--endpoints", eps}, extra...)
	done := make(chan clitest.Result, 1)
	// OLD's stop runs beside the polling (a graceful stop takes seconds);
	// its end time and error are read once stopDone is closed.
	r.stopDone = make(chan struct{})
	t.Cleanup(func() {
		if !r.Stopping.IsZero() {
			<-r.stopDone
		}
	})
	r.Began = time.Now()
	go func() { done <- runEtcdmedic(t, args...) }()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case r.Res = <-done:
			r.Ended = time.Now()
			r.observe(readJournal(t, state), r.Ended)
			return r
		case <-poll.C:
		}
		j := readJournal(t, state)
		r.observe(j, time.Now())
		if j == nil {
			continue
		}
		if j.Start != nil && r.Started.IsZero() {
			if _, err := c.StartJoining(clientURL, j.Start.Flags); err != nil {
				t.Fatal(err)
			}
			r.Started = time.Now()
		}
		if strings.HasPrefix(j.Waiting, "stop ") && r.Stopping.IsZero() {
			r.Stopping = time.Now()
			m := memberNamed(c, old)
			go func() {
				defer close(r.stopDone)
				r.stopErr = m.Stop()
				r.stoppedAt = time.Now()
			}()
		}
	}
}

func (r *replaceRun) observe(j *member.Journal, now time.Time) {
	if j == nil {
		return
	}
	for i, s := range j.Done {
		if _, ok := r.At[s]; !ok {
			// The journal is saved as each step ends: while no wait is
			// journaled after it, its time is exact for the last step
			// done; otherwise the step gets the poll's time.
			r.At[s] = now
			if i == len(j.Done)-1 && j.Waiting == "" && !j.Updated.IsZero() {
				r.At[s] = j.Updated
			}
		}
	}
}

// stepAt names the step that was running at t ("" outside the run).
func (r *replaceRun) stepAt(t time.Time) string {
	if t.Before(r.Began) || t.After(r.Ended) {
		return ""
	}
	for _, s := range member.Steps {
		if at, ok := r.At[s]; !ok || !t.After(at) {
			return s
		}
	}
	return "exit"
}

// took is how long step s ran: from the previous step's end to its own.
func (r *replaceRun) took(s string) time.Duration {
	prev := r.Began
	for _, x := range member.Steps {
		if x == s {
			if at, ok := r.At[s]; ok {
				return at.Sub(prev)
			}
			return 0
		}
		if at, ok := r.At[x]; ok {
			prev = at
		}
	}
	return 0
}

// timeline is the run's steps with their times, for logs.
func (r *replaceRun) timeline() string {
	var b strings.Builder
	fmt.Fprintf(&b, "replace %s by %s: began %s", r.Old, r.Name, r.Began.Format("15:04:05.000"))
	for _, s := range member.Steps {
		if at, ok := r.At[s]; ok {
			fmt.Fprintf(&b, ", %s %s (%.1fs)", s, at.Format("15:04:05.000"), r.took(s).Seconds())
		}
	}
	if !r.Started.IsZero() {
		fmt.Fprintf(&b, "; NEW started %s", r.Started.Format("15:04:05.000"))
	}
	if !r.Stopping.IsZero() {
		fmt.Fprintf(&b, "; OLD SIGTERM %s", r.Stopping.Format("15:04:05.000"))
		if !r.Stopped.IsZero() {
			fmt.Fprintf(&b, ", gone %s", r.Stopped.Format("15:04:05.000"))
		}
	}
	return b.String()
}
