package defrag_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/etcdmedic/etcdmedic/defrag"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// A run paused past its lease loses the lock; when it resumes while another
// run holds the lock, it must not defragment another member: the fence
// before every member proves the lock is still its own (exit 4).
func TestDefragStopsWhenItsLockWasLost(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	bin := playgroundtest.Binary(t)
	cli := playgroundtest.Client(t, c)
	const key = "/etcdmedic/locks/fence-test"

	cmd := exec.Command(bin, "defrag", "-o", "json", "--endpoints", strings.Join(c.Endpoints(), ","),
		"--rule", "true", "--lock-key", key, "--lock-ttl", "5", "--wait-between", "1s", "--verify-hash=false")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	events := make(chan defrag.Event, 100)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e defrag.Event
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				events <- e
			}
		}
	}()
	var seen []defrag.Event
	next := func(kind string) defrag.Event {
		t.Helper()
		for e := range events {
			seen = append(seen, e)
			if e.Event == kind {
				return e
			}
		}
		t.Fatalf("the run ended before a %s event; stderr: %s", kind, stderr.String())
		return defrag.Event{}
	}

	first := next(defrag.EventMemberDone)
	// Paused between two members, past its 5 s lease.
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := cli.Get(ctx, key+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if resp.Count == 0 {
			break // the lease expired: the lock is free
		}
		if time.Now().After(deadline) {
			t.Fatal("the paused run's lock never expired")
		}
		time.Sleep(200 * time.Millisecond) // poll interval for the lease expiry
	}
	// Another run takes the lock meanwhile.
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(30))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other := concurrency.NewMutex(s, key)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := other.TryLock(ctx); err != nil {
		cancel()
		t.Fatalf("the second holder could not take the expired lock: %v", err)
	}
	cancel()

	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed = true
	sum := next(defrag.EventSummary)
	for range events {
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 4 {
		t.Fatalf("exit %v, want 4; stderr: %s", err, stderr.String())
	}
	done := 0
	for _, e := range seen {
		if e.Event == defrag.EventMemberDone {
			done++
		}
	}
	if done != 1 || sum.Summary == nil || sum.Summary.Defragmented != 1 {
		t.Fatalf("after losing the lock the run defragmented %d members (first: %s); want only the one before the pause", done, first.MemberName)
	}
	if !strings.Contains(sum.Message, "lock was lost") || sum.Summary.ExitCode != 4 {
		t.Fatalf("summary %q (exitCode %d) should say the lock was lost, exit 4", sum.Message, sum.Summary.ExitCode)
	}
}
