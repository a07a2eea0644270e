package member_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	membercmd "github.com/etcdmedic/etcdmedic/commands/member"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// The common case: a SIGKILLed member of three is removed while the other
// two are healthy. An unknown member is bad input first.
func TestRemoveDeadMember(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	dead := killFollower(t, c)
	eps := endpoints(c)
	if res := clitest.Run(t, nil, "member", "remove", "nosuch", "--yes", "--endpoints", eps); res.Code != 64 || !strings.Contains(res.Stderr, `no member "nosuch"`) {
		t.Fatalf("unknown member: exit %d\n%s", res.Code, res.Stderr)
	}
	id := row(t, list(t, eps), dead.Name).ID
	res := clitest.Run(t, nil, "member", "remove", dead.Name, "--yes", "-o", "json", "--endpoints", eps, "--command-timeout", "3s")
	if res.Code != 0 {
		t.Fatalf("remove the dead member: exit %d\n%s", res.Code, res.Stderr)
	}
	var r membercmd.RemoveResult
	if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
		t.Fatal(err)
	}
	if !r.Removed || r.Reachable || r.ID != id || r.Remaining != 2 {
		t.Fatalf("result %+v", r)
	}
	l := list(t, endpoints(c))
	if len(l.Members) != 2 || voters(l) != 2 {
		t.Fatalf("after removal %+v", l.Members)
	}
	for _, m := range l.Members {
		if m.ID == id || !m.Reachable {
			t.Fatalf("after removal: %+v", m)
		}
	}
}

// A hung member (SIGSTOPped) is removed after one --command-timeout: with
// --yes the removal acts on the verdict its plan printed instead of waiting
// for the hung member a second time (4.02 s here before, at 2 s).
func TestRemoveHungMemberCostsOneTimeout(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	ready := time.Now()
	hung := playgroundtest.PauseFollower(t, c)
	eps := endpoints(c)
	// etcd refuses to remove a voter ("unhealthy cluster") until the
	// members that stay have been connected for its HealthInterval, 5 s:
	// a rule on etcd's clock, so the run starts once that much has passed.
	time.Sleep(time.Until(ready.Add(5 * time.Second)))
	res := clitest.Run(t, nil, "member", "remove", hung.Name, "--yes", "--endpoints", eps, "--command-timeout", "2s")
	t.Logf("removed in %s", res.Took)
	if res.Code != 0 || res.Took > 3500*time.Millisecond {
		t.Fatalf("remove the hung %s: exit %d in %s, want 0 within one 2s timeout and 1.5s\n%s", hung.Name, res.Code, res.Took, res.Stderr)
	}
	if l := list(t, eps); len(l.Members) != 2 || named(l, hung.Name) {
		t.Fatalf("after removing the hung %s: %+v", hung.Name, l.Members)
	}
}

// The leader SIGKILLed and removed at once: the remove meets the election
// (no leader yet, or the request lost with its leader) and waits it out
// instead of refusing a cluster that is about to be healthy; it succeeds
// and two voters remain. Each round kills the current leader.
func TestRemoveDeadLeaderDuringTheElection(t *testing.T) {
	for round := range 3 {
		c := playgroundtest.Start(t, playground.Options{Members: 3})
		eps := endpoints(c)
		l := list(t, eps)
		var leader *playground.Member
		for _, m := range c.Members() {
			if row(t, l, m.Name).ID == l.Leader {
				leader = m
			}
		}
		if leader == nil {
			t.Fatalf("round %d: no leader in %+v", round, l)
		}
		if err := leader.Kill(); err != nil {
			t.Fatal(err)
		}
		res := clitest.Run(t, nil, "member", "remove", leader.Name, "--yes", "-o", "json", "--endpoints", eps, "--command-timeout", "3s")
		if res.Code != 0 {
			t.Fatalf("round %d: remove the leader just killed: exit %d\n%s", round, res.Code, res.Stderr)
		}
		if after := list(t, eps); len(after.Members) != 2 || voters(after) != 2 || named(after, leader.Name) {
			t.Fatalf("round %d: after removal %+v", round, after.Members)
		}
		c.Stop()
	}
}

// A healthy member may not be removed while another is SIGSTOPped: exit 4
// naming the paused one on one line, then the next step (doctor with this
// run's flags) on another, and the membership is what it was.
func TestRemoveHealthyRefusedWhileAnotherIsDown(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	eps := endpoints(c)
	before := list(t, eps)
	paused := playgroundtest.PauseFollower(t, c)
	healthy := otherThan(c, paused)
	res := clitest.Run(t, nil, "member", "remove", healthy.Name, "--yes", "--endpoints", eps, "--command-timeout", "2s")
	// One --command-timeout for the paused member: the gate is judged
	// once (a silent voter is no election to wait out) and the one-cluster
	// check waits beside it.
	if res.Took > 3500*time.Millisecond {
		t.Fatalf("the refusal took %s with a paused member, want at most 3.5s", res.Took)
	}
	lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
	if res.Code != 4 || len(lines) != 2 || !strings.Contains(lines[0], "voter "+paused.Name+" does not answer") {
		t.Fatalf("exit %d, want 4 naming %s on one line and the next step on another:\n%s", res.Code, paused.Name, res.Stderr)
	}
	if want := "→ every finding and the command that fixes it: etcdmedic doctor --endpoints " + eps + " --command-timeout 2s"; lines[1] != want {
		t.Fatalf("next step %q, want %q", lines[1], want)
	}
	if err := paused.Resume(); err != nil {
		t.Fatal(err)
	}
	after := list(t, eps)
	if len(after.Members) != len(before.Members) {
		t.Fatalf("membership changed: %d members, was %d", len(after.Members), len(before.Members))
	}
	for i := range after.Members {
		if after.Members[i].ID != before.Members[i].ID || after.Members[i].IsLearner != before.Members[i].IsLearner {
			t.Fatalf("membership changed: %+v, was %+v", after.Members, before.Members)
		}
	}
}

// Removing the leader: leadership moves to another voter first, then the
// member goes; the two that remain agree on the new leader.
func TestRemoveLeaderMovesLeadershipFirst(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res := clitest.Run(t, nil, "member", "remove", leader.Name, "--yes", "-o", "json", "--endpoints", endpoints(c))
	if res.Code != 0 {
		t.Fatalf("remove the leader: exit %d\n%s", res.Code, res.Stderr)
	}
	var r membercmd.RemoveResult
	if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
		t.Fatal(err)
	}
	if !r.Removed || !r.IsLeader || r.LeaderMovedTo == "" || r.LeaderMovedTo == r.ID {
		t.Fatalf("result %+v: want leadership moved before the removal", r)
	}
	var rest []string
	for _, m := range c.Members() {
		if m != leader {
			rest = append(rest, m.ClientURL)
		}
	}
	l := list(t, strings.Join(rest, ","))
	if len(l.Members) != 2 || l.Leader != r.LeaderMovedTo {
		t.Fatalf("after removing the leader: %d members, leader %s; want 2 and %s", len(l.Members), l.Leader, r.LeaderMovedTo)
	}
	// The removed member stops itself once it applies its removal.
	for deadline := time.Now().Add(20 * time.Second); leader.Running(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the removed leader is still running")
		}
	}
}

// The last voter is never removed: exit 4 naming why, with or without
// --yes, and the one-member cluster still serves.
func TestRemoveRefusesTheLastVoter(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	eps := endpoints(c)
	for _, extra := range [][]string{{"--yes"}, {"--dry-run"}} {
		res := clitest.Run(t, nil, append([]string{"member", "remove", c.Member(0).Name, "--endpoints", eps}, extra...)...)
		if res.Code != 4 || !strings.Contains(res.Stderr, "it is the last voter; removing it would end the cluster") {
			t.Fatalf("remove the last voter %v: exit %d, want 4\n%s", extra, res.Code, res.Stderr)
		}
	}
	if l := list(t, eps); len(l.Members) != 1 || voters(l) != 1 || !l.Members[0].Reachable {
		t.Fatalf("after the refusals: %+v", l.Members)
	}
}
