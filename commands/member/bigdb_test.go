package member_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/commands"
	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// A learner that must receive a 200 MB database is not in sync for a while:
// promote without --wait is exit 4 saying how far behind it is; with --wait
// it waits until etcd takes it, then succeeds.
func TestPromoteWaitsForABigLearner(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	cli := playgroundtest.Client(t, c)
	value := strings.Repeat("v", 1<<20)
	for i := 0; i < 210; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("/big/%04d", i), value)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	st, err := cli.Status(ctx, c.Member(0).ClientURL)
	cancel()
	if err != nil || st.DbSize < 200<<20 {
		t.Fatalf("database %d bytes (%v), want ≥ 200 MB", dbSize(st), err)
	}
	eps := endpoints(c)
	clientURL, peerURL := newURLs(t, c)
	added := decodeAdd(t, clitest.Run(t, nil, "member", "add", "m4", "--peer-urls", peerURL, "--yes", "-o", "json", "--endpoints", eps))
	if !added.Added {
		t.Fatalf("add: %+v", added)
	}
	learner, err := c.StartJoining(clientURL, added.Start.Flags)
	if err != nil {
		t.Fatal(err)
	}
	// Frozen right after it starts, it cannot receive the 200 MB it lacks:
	// far behind, whatever this machine's speed (a fast loopback copy once
	// had it in sync before the first promote). It has not even published
	// its name (it does once it has caught up), so it goes by its ID.
	if err := learner.Pause(); err != nil {
		t.Fatal(err)
	}
	early := clitest.Run(t, nil, "member", "promote", added.ID, "--yes", "--endpoints", eps)
	if err := learner.Resume(); err != nil {
		t.Fatal(err)
	}
	if early.Code != 4 || !strings.Contains(early.Stderr, "not in sync") || !strings.Contains(early.Stderr, "the leader has committed") ||
		!strings.Contains(early.Stderr, "wait for it with --wait") {
		t.Fatalf("promote before sync: exit %d, want 4 with the lag:\n%s", early.Code, early.Stderr)
	}
	if l := list(t, eps); voters(l) != 3 {
		t.Fatalf("a refused promote changed the voters: %d", voters(l))
	}
	// On a terminal, --wait shows how far the learner has come while it waits.
	ios, stdout, stderr := iostreams.Test()
	ios.SetTTY(true)
	code := commands.Execute(context.Background(), []string{"member", "promote", added.ID, "--wait", "5m", "--yes", "--endpoints", eps}, ios, func(string) string { return "" })
	if code != 0 || !strings.Contains(stdout.String(), "promoted m4") {
		t.Fatalf("promote --wait: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr.String(), "\r") || !strings.Contains(stderr.String(), "learner ") || !strings.Contains(stderr.String(), "the leader") {
		t.Fatalf("no progress line on the terminal:\n%q", stderr.String())
	}
	if l := list(t, eps); voters(l) != 4 {
		t.Fatalf("%d voters, want 4", voters(l))
	}
}

func dbSize(st *clientv3.StatusResponse) int64 {
	if st == nil {
		return 0
	}
	return st.DbSize
}
