package member

import (
	"context"
	"fmt"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// MoveOptions choose where leadership goes and how long the voters have to
// agree on it.
type MoveOptions struct {
	// To is the transferee; 0 picks the healthiest caught-up voter.
	To uint64
	// Not are voters never chosen by default (the member about to be removed).
	Not map[uint64]bool
	// MaxLag is how far a transferee's applied index may trail the leader's
	// commit index: a voter far behind would stall writes while it catches up.
	MaxLag uint64
	// Prefer adds to a candidate's score (defrag prefers a voter it already
	// defragmented, so leadership moves once).
	Prefer func(*cluster.MemberStatus) float64
	// AgreeTimeout bounds the wait for every voter to name the new leader.
	AgreeTimeout time.Duration
}

// Moved is a leadership move that every voter agrees on.
type Moved struct {
	From, To cluster.Member
	// Already: the chosen voter led already; nothing was asked of etcd.
	Already bool
	Took    time.Duration
}

// MoveLeader hands leadership from the sample's leader to o.To or to the
// healthiest caught-up voter (lowest WAL fsync p99 when metrics were
// sampled), then waits until every voter names it.
func MoveLeader(ctx context.Context, c *cluster.Cluster, snap *cluster.Sample, o MoveOptions) (*Moved, error) {
	start := time.Now()
	leader := leaderOf(snap)
	if leader == nil {
		return nil, fault.New(fault.Refused, "move leader: no voter says it leads; nothing to move")
	}
	committed := leader.Status.GetRaftIndex()
	caughtUp := func(st *cluster.MemberStatus) bool {
		return st.OK() && st.Status.GetRaftAppliedIndex()+o.MaxLag >= committed
	}
	var best *cluster.MemberStatus
	if o.To != 0 {
		st := statusOf(snap, o.To)
		switch {
		case st == nil:
			return nil, fault.New(fault.Invalid, fmt.Sprintf("move leader: no member %s", cluster.FormatID(o.To)))
		case st.Member.IsLearner:
			return nil, fault.New(fault.Invalid, fmt.Sprintf("move leader: %s is a learner: only a voter can lead", st.Member.Label()))
		case st.Member.ID == leader.Member.ID:
			return &Moved{From: leader.Member, To: leader.Member, Already: true, Took: time.Since(start)}, nil
		case !st.OK():
			return nil, fault.Mark(fmt.Errorf("move leader: %s does not answer: %w", st.Member.Label(), st.Err), fault.Refused)
		case !caughtUp(st):
			return nil, fault.New(fault.Refused, fmt.Sprintf("move leader: %s has applied %d, the leader committed %d: not caught up (more than %d behind)",
				st.Member.Label(), st.Status.GetRaftAppliedIndex(), committed, o.MaxLag))
		}
		best = st
	} else {
		score := func(st *cluster.MemberStatus) float64 {
			s := 0.0
			if o.Prefer != nil {
				s += o.Prefer(st)
			}
			if p, ok := st.WALFsyncP99(); ok {
				s -= p * 100
			}
			return s
		}
		for _, st := range snap.Members {
			if st.Member.IsLearner || st.Member.ID == leader.Member.ID || o.Not[st.Member.ID] || !caughtUp(st) {
				continue
			}
			if best == nil || score(st) > score(best) {
				best = st
			}
		}
		if best == nil {
			return nil, fault.New(fault.Refused, "move leader: no caught-up voter to hand leadership to")
		}
	}
	mctx, cancel := c.WithCommandTimeout(ctx)
	defer cancel()
	cli, err := c.Client(mctx, leader.Member.Endpoint)
	if err != nil {
		return nil, fault.Mark(fmt.Errorf("move leader from %s: %w", leader.Member.Label(), err), fault.Failed)
	}
	// MoveLeader must reach the leader itself: this client talks only to it.
	if _, err := cli.MoveLeader(mctx, best.Member.ID); err != nil {
		return nil, fault.Mark(fmt.Errorf("move leader from %s to %s: %w", leader.Member.Label(), best.Member.Label(), err), fault.Failed)
	}
	if err := waitLeader(ctx, c, snap.Membership, best.Member.ID, o.AgreeTimeout); err != nil {
		return nil, fault.Mark(fmt.Errorf("move leader to %s: %w", best.Member.Label(), err), fault.Failed)
	}
	return &Moved{From: leader.Member, To: best.Member, Took: time.Since(start)}, nil
}

// waitLeader polls until every voter answers and names id as its leader.
func waitLeader(ctx context.Context, c *cluster.Cluster, ms *cluster.Membership, id uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		snap := c.Probe(ctx, ms, cluster.ProbeOptions{SkipMetrics: true})
		agreed := true
		for _, st := range snap.Members {
			if !st.Member.IsLearner && (!st.OK() || st.Status.GetLeader() != id) {
				agreed = false
			}
		}
		if agreed {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the voters did not all agree within %s", timeout)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
}
