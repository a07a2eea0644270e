package playgroundtest

import (
	"context"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/playground"
)

// PauseFollower SIGSTOPs a member that does not lead (Follower) and
// resumes it when the test ends. A paused leader would start an election,
// and a check that lands in it sees no leader agreed: not the hung member
// these tests are about.
func PauseFollower(t testing.TB, c *playground.Cluster) *playground.Member {
	t.Helper()
	hung := Follower(t, c)
	if err := hung.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hung.Resume() })
	return hung
}

// Follower is a member that does not lead, the last one listed: the one a
// test kills or pauses when it is about a dead member, not an election.
func Follower(t testing.TB, c *playground.Cluster) *playground.Member {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var f *playground.Member
	for _, m := range c.Members() {
		if m != leader {
			f = m
		}
	}
	if f == nil {
		t.Fatal("playgroundtest: no follower")
	}
	return f
}
