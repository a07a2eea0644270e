package snapshot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// From values for SaveOptions.From; anything else names a member (ID or name).
const (
	FromFollower = "follower"
	FromLeader   = "leader"
)

// DefaultMaxLag is how far (raft entries) a member's applied index may trail
// the leader's committed index and still count as caught up.
const DefaultMaxLag = 1000

// ErrNoSource means members answered but none may serve the snapshot.
// Nothing was read: a refusal, not a failure.
var ErrNoSource = fault.New(fault.Refused, "no member qualifies as the snapshot source")

// Source is the member chosen to stream the snapshot, and why.
type Source struct {
	Status *cluster.MemberStatus
	Reason string
}

// ChooseSource picks the member to snapshot from. A member qualifies when it
// answered Status, is not a learner (unless named), has no CORRUPT alarm, and
// has applied within maxLag of the leader's commit index. With no leader
// (quorum lost) the freshest member still qualifies: a snapshot is served
// locally and is exactly what is needed then.
func ChooseSource(snap *cluster.Sample, from string, maxLag uint64) (*Source, error) {
	leaderID, hasLeader := snap.Leader()
	var leaderCommit uint64
	for _, st := range snap.Members {
		if st.OK() && st.Member.ID == leaderID {
			leaderCommit = st.Status.GetRaftIndex()
		}
	}
	var reachable int
	judge := func(st *cluster.MemberStatus, named bool) string {
		switch {
		case !st.OK():
			return fmt.Sprintf("%s: no answer: %v", st.Member.Label(), st.Err)
		case st.Member.IsLearner && !named:
			return st.Member.Label() + ": learner"
		case slices.Contains(st.AlarmsOn(st.Member.ID), "CORRUPT"):
			return st.Member.Label() + ": CORRUPT alarm"
		// Subtracted, not added: applied+maxLag wraps for a large --max-lag
		// and would call every member lagging.
		case hasLeader && leaderCommit > st.Status.GetRaftAppliedIndex() && leaderCommit-st.Status.GetRaftAppliedIndex() > maxLag:
			return fmt.Sprintf("%s: applied index %d trails the leader's commit index %d by more than %d",
				st.Member.Label(), st.Status.GetRaftAppliedIndex(), leaderCommit, maxLag)
		}
		return ""
	}
	for _, st := range snap.Members {
		if st.OK() {
			reachable++
		}
	}
	if reachable == 0 {
		return nil, fmt.Errorf("no member answered: %w", cluster.ErrUnreachable)
	}
	noLeader := ""
	if !hasLeader {
		noLeader = " (no leader: quorum may be lost; freshest member chosen)"
	}

	switch from {
	case FromLeader:
		if !hasLeader {
			return nil, fmt.Errorf("%w: no leader elected", ErrNoSource)
		}
		for _, st := range snap.Members {
			if st.Member.ID == leaderID {
				if why := judge(st, true); why != "" {
					return nil, fmt.Errorf("%w: leader %s", ErrNoSource, why)
				}
				return &Source{Status: st, Reason: "leader, as asked"}, nil
			}
		}
		return nil, fmt.Errorf("%w: leader %s is not in the member list", ErrNoSource, cluster.FormatID(leaderID))
	case FromFollower, "":
		var ok, leader []*cluster.MemberStatus
		var why []error
		for _, st := range snap.Members {
			if w := judge(st, false); w != "" {
				why = append(why, errors.New(w))
				continue
			}
			if hasLeader && st.Member.ID == leaderID {
				leader = append(leader, st)
			} else {
				ok = append(ok, st)
			}
		}
		if len(ok) > 0 && !hasLeader {
			// No leader to be caught up with: the one holding the most.
			return &Source{Status: freshest(ok), Reason: "the member that applied the most; no leader: quorum may be lost"}, nil
		}
		if len(ok) > 0 {
			return &Source{Status: freshest(ok), Reason: "healthiest caught-up follower"}, nil
		}
		if len(leader) > 0 {
			return &Source{Status: leader[0], Reason: "leader: no follower is healthy and caught up"}, nil
		}
		return nil, fmt.Errorf("%w: %w", ErrNoSource, errors.Join(why...))
	default:
		m, found := snap.Membership.Find(from)
		if !found {
			return nil, fmt.Errorf("%w: no member %q (give a member ID, a name, %q or %q)", ErrNoSource, from, FromFollower, FromLeader)
		}
		for _, st := range snap.Members {
			if st.Member.ID == m.ID {
				if why := judge(st, true); why != "" {
					return nil, fmt.Errorf("%w: %s", ErrNoSource, why)
				}
				return &Source{Status: st, Reason: "named" + noLeader}, nil
			}
		}
		return nil, fmt.Errorf("%w: member %s was not probed", ErrNoSource, m.Label())
	}
}

// freshest prefers the highest applied index, then the smallest apply
// backlog, then the name: deterministic for the same cluster state.
func freshest(sts []*cluster.MemberStatus) *cluster.MemberStatus {
	sort.SliceStable(sts, func(i, j int) bool {
		a, b := sts[i], sts[j]
		if a.Status.GetRaftAppliedIndex() != b.Status.GetRaftAppliedIndex() {
			return a.Status.GetRaftAppliedIndex() > b.Status.GetRaftAppliedIndex()
		}
		if a.ApplyLag() != b.ApplyLag() {
			return a.ApplyLag() < b.ApplyLag()
		}
		return a.Member.Label() < b.Member.Label()
	})
	return sts[0]
}

// pickSource reads the member list (endpoints of one cluster only), samples
// every member and chooses the source, recording it in res.
func pickSource(ctx context.Context, c *cluster.Cluster, from string, maxLag uint64, res *SaveResult) (*Source, *cluster.Membership, error) {
	ms, err := c.Members(ctx)
	if err != nil {
		return nil, nil, err
	}
	// The probe first: the one-cluster check waits for every endpoint's
	// member list, a hung one's included, and so does the probe; in this
	// order the two waits overlap instead of adding up.
	snap := c.Probe(ctx, ms, cluster.ProbeOptions{SkipMetrics: true})
	if err := ms.OneCluster(); err != nil {
		return nil, nil, err
	}
	src, err := ChooseSource(snap, from, maxLag)
	if err != nil {
		return nil, nil, err
	}
	m := src.Status.Member
	res.Source.MemberID, res.Source.Name, res.Source.Endpoint, res.Source.Reason = m.IDString(), m.Name, m.Endpoint, src.Reason
	c.Log.Info("snapshot source", "member", m.Label(), "id", m.IDString(), "reason", src.Reason)
	return src, ms, nil
}
