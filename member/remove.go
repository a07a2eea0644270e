package member

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// RemoveOptions bound the leader move and the check that the member left.
type RemoveOptions struct {
	Thresholds health.Thresholds
	// AgreeTimeout bounds the leader move and the wait for every remaining
	// member to drop the removed one from its member list.
	AgreeTimeout time.Duration
	// Retry bounds how long a removal refused as "unhealthy cluster" is
	// tried again (etcd counts a peer as connected only after 5 s).
	Retry time.Duration
	// Judged is this removal's gate, judged a moment ago by the caller
	// (the command's plan under --yes, or replace's, with nothing changed
	// since): judging it again would cost a hung member's timeout twice.
	Judged *Gate
}

// Removed is a member gone from every remaining member's list.
type Removed struct {
	Member    cluster.Member
	Reachable bool
	// LeaderMovedTo is set when the member led and leadership moved first.
	LeaderMovedTo *cluster.Member
	Remaining     int
}

// PlanRemove resolves the member and judges the gate, changing nothing.
func PlanRemove(ctx context.Context, c *cluster.Cluster, ref string, o RemoveOptions) (cluster.Member, *Gate, error) {
	ms, m, err := ResolveJoining(ctx, c, ref, 0)
	if err != nil {
		return cluster.Member{}, nil, err
	}
	if err := lastVoter(ms, m); err != nil {
		return m, nil, ms.Explain(err)
	}
	// The gate before the one-cluster check: both wait for a hung member,
	// and in this order the waits overlap.
	g := Judge(ctx, c, ms, health.RemoveMember(m.IDString()), o.Thresholds)
	if err := ms.OneCluster(); err != nil {
		return m, nil, err
	}
	return m, g, nil
}

// lastVoter refuses to remove the only voter: that would end the cluster.
func lastVoter(ms *cluster.Membership, m cluster.Member) error {
	if !m.IsLearner && len(ms.Voters()) == 1 {
		return fault.New(fault.Refused, fmt.Sprintf("remove %s: it is the last voter; removing it would end the cluster", m.Label()))
	}
	return nil
}

// planOrJudged is PlanRemove, or the caller's verdict of a moment ago.
func planOrJudged(ctx context.Context, c *cluster.Cluster, ref string, o RemoveOptions) (cluster.Member, *Gate, error) {
	if o.Judged == nil {
		return PlanRemove(ctx, c, ref, o)
	}
	ms := o.Judged.Snapshot.Membership
	m, err := Resolve(ms, ref)
	if err == nil {
		err = lastVoter(ms, m)
	}
	if err != nil {
		return m, nil, ms.Explain(err)
	}
	return m, o.Judged, nil
}

// Remove removes the member when every voter that remains is healthy,
// moving leadership off it first when it leads.
func Remove(ctx context.Context, c *cluster.Cluster, ref string, o RemoveOptions) (*Removed, error) {
	m, g, err := planOrJudged(ctx, c, ref, o)
	if err != nil {
		return nil, err
	}
	if err := g.Err("remove " + m.Label()); err != nil {
		return nil, err
	}
	res := &Removed{Member: m}
	if st := statusOf(g.Snapshot, m.ID); st != nil {
		res.Reachable = st.OK()
		if st.IsLeader() && !m.IsLearner {
			moved, err := MoveLeader(ctx, c, g.Snapshot, MoveOptions{Not: map[uint64]bool{m.ID: true}, MaxLag: o.Thresholds.FollowerLagWarn, AgreeTimeout: o.AgreeTimeout})
			if err != nil {
				return nil, fmt.Errorf("remove %s: it leads, and leadership could not move first: %w", m.Label(), err)
			}
			res.LeaderMovedTo = &moved.To
		}
	}
	// The request goes to the members that stay: the one removed stops
	// itself once it applies its removal.
	var eps []string
	var stay []cluster.Member
	for _, o := range g.Snapshot.Membership.Members {
		if o.ID != m.ID && o.Started() && o.Endpoint != "" {
			stay = append(stay, o)
			if !o.IsLearner {
				eps = append(eps, o.Endpoint)
			}
		}
	}
	cli, err := c.NewBalancedClient(ctx, eps)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	deadline := time.Now().Add(o.Retry)
	for {
		rctx, cancel := c.WithCommandTimeout(ctx)
		_, err = cli.MemberRemove(rctx, m.ID)
		cancel()
		if err == nil || !(retriable(err) || electionLost(err)) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(500 * time.Millisecond) // etcd's connectivity window is seconds
	}
	if err != nil && !removedAlready(err) {
		kind := fault.Failed
		if retriable(err) {
			kind = fault.Refused
		}
		return nil, fault.Mark(fmt.Errorf("remove %s: %w", m.Label(), err), kind)
	}
	res.Remaining = len(stay)
	return res, waitGone(ctx, c, stay, m, o.AgreeTimeout)
}

// electionLost: the request met an election (the leader it went to died or
// stepped down). A removal is safe to ask again: if the first one was
// applied after all, the next says the member is not found (removedAlready).
func electionLost(err error) bool {
	return contains(err, "no leader") || contains(err, "leader changed") || contains(err, "request timed out")
}

// removedAlready: an earlier attempt whose answer was lost succeeded.
func removedAlready(err error) bool {
	return err != nil && (contains(err, "member not found") || contains(err, "ID removed"))
}

// waitGone waits until no remaining member lists m.
func waitGone(ctx context.Context, c *cluster.Cluster, stay []cluster.Member, m cluster.Member, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var left []string
		for _, o := range stay {
			lctx, cancel := c.WithCommandTimeout(ctx)
			cli, err := c.Client(lctx, o.Endpoint)
			var resp *clientv3.MemberListResponse
			if err == nil {
				resp, err = cli.MemberList(lctx, clientv3.WithSerializable())
			}
			cancel()
			if err != nil {
				left = append(left, o.Label()+": "+err.Error())
				continue
			}
			for _, pm := range resp.Members {
				if pm.GetID() == m.ID {
					left = append(left, o.Label()+" still lists it")
				}
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fault.Mark(fmt.Errorf("remove %s: asked, but not gone everywhere within %s: %v", m.Label(), timeout, left), fault.Failed)
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
}
