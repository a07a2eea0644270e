package health

import (
	"fmt"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// 7. Raft progress between two samples: elections.
func (d *judge) checkRaft(before, after *cluster.Sample) {
	for i, st := range after.Members {
		m := st.Member
		if d.unknownFor("raft.term", st, "raft progress") {
			continue
		}
		prev := before.Members[i]
		f := Finding{ID: "raft.term", Severity: OK,
			Observed:    fmt.Sprintf("term %d", st.Status.GetRaftTerm()),
			Explanation: fmt.Sprintf("no election in the %s window", d.window)}
		if prev.OK() && prev.Status.GetRaftTerm() != st.Status.GetRaftTerm() {
			f.Severity = Warn
			f.Observed = fmt.Sprintf("term %d → %d", prev.Status.GetRaftTerm(), st.Status.GetRaftTerm())
			f.Short = "election: " + f.Observed
			f.Explanation = "a leader election happened during the window: every election stalls writes"
			f.Advice = "look for slow disks (fsync below), CPU starvation or a flapping network between members"
		}
		d.add(d.member(m, f))
	}
}

// 7b. How far each member trails, from one sample: its own commit→apply gap,
// and how far its applied state trails the leader's commit index (what
// "caught up" means before a member may go offline).
func (d *judge) checkLag(snap *cluster.Sample) {
	t := d.t
	var leaderCommitted uint64
	for _, st := range snap.Members {
		if st.OK() && st.IsLeader() {
			leaderCommitted = st.Status.GetRaftIndex()
		}
	}
	for _, st := range snap.Members {
		m := st.Member
		if !st.OK() {
			continue // status.reachable already says so
		}
		gap := st.ApplyLag()
		g := Finding{ID: "raft.applyGap", Severity: OK, Observed: fmt.Sprintf("%d entries", gap),
			Threshold:   fmt.Sprintf("warn > %d, crit > %d", t.ApplyGapWarn, t.ApplyGapCrit),
			Explanation: "committed entries are applied promptly"}
		switch {
		case gap > t.ApplyGapCrit:
			g.Severity = Crit
			g.Short = fmt.Sprintf("apply gap %d > %d", gap, t.ApplyGapCrit)
			g.Explanation = "etcd refuses new requests (\"too many requests\") while applies trail commits by this much"
		case gap > t.ApplyGapWarn:
			g.Severity = Warn
			g.Short = fmt.Sprintf("apply gap %d > %d", gap, t.ApplyGapWarn)
			g.Explanation = "applies trail commits: the backend is slow (disk) or overloaded by expensive requests"
		}
		if g.Severity != OK {
			g.Advice = "check backend commit latency and large range requests: " + d.cmd("inventory")
		}
		d.add(d.member(m, g))

		if leaderCommitted > 0 && !st.IsLeader() && !m.IsLearner {
			lag := uint64(0)
			if applied := st.Status.GetRaftAppliedIndex(); leaderCommitted > applied {
				lag = leaderCommitted - applied
			}
			l := Finding{ID: "raft.followerLag", Severity: OK, Observed: fmt.Sprintf("applied %d entries behind the leader's commit index", lag),
				Threshold: fmt.Sprintf("warn > %d", t.FollowerLagWarn), Explanation: "the follower keeps up"}
			if lag > t.FollowerLagWarn {
				l.Severity = Warn
				l.Short = fmt.Sprintf("%d behind the leader > %d", lag, t.FollowerLagWarn)
				l.Explanation = "the follower trails the leader: it is not caught up, and far enough behind it will need a full snapshot"
				l.Advice = "check this member's disk and network; do not defragment or restart other members meanwhile"
			}
			d.add(d.member(m, l))
		}
	}
}
