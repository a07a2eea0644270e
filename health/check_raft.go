package health

import (
	"fmt"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// 7. Raft progress between two samples: elections, the commit→apply gap and
// how far followers trail the leader.
func (d *diagnosis) checkRaft(before, after *cluster.Snapshot) {
	t := d.o.Thresholds
	var leaderCommitted uint64
	for _, st := range after.Members {
		if st.OK() && st.IsLeader() {
			leaderCommitted = st.Status.GetRaftIndex()
		}
	}
	for i, st := range after.Members {
		m := st.Member
		if d.unknownFor("raft.progress", st, "raft progress") {
			continue
		}
		prev := before.Members[i]
		f := Finding{ID: "raft.term", Severity: OK,
			Observed:    fmt.Sprintf("term %d", st.Status.GetRaftTerm()),
			Explanation: fmt.Sprintf("no election in the %s window", d.o.Window)}
		if prev.OK() && prev.Status.GetRaftTerm() != st.Status.GetRaftTerm() {
			f.Severity = Warn
			f.Observed = fmt.Sprintf("term %d → %d", prev.Status.GetRaftTerm(), st.Status.GetRaftTerm())
			f.Explanation = "a leader election happened during the window: every election stalls writes"
			f.Advice = "look for slow disks (fsync below), CPU starvation or a flapping network between members"
		}
		d.add(d.member(m, f))

		gap := st.ApplyLag()
		g := Finding{ID: "raft.applyGap", Severity: OK, Observed: fmt.Sprintf("%d entries", gap),
			Threshold:   fmt.Sprintf("warn > %d, crit > %d", t.ApplyGapWarn, t.ApplyGapCrit),
			Explanation: "committed entries are applied promptly"}
		switch {
		case gap > t.ApplyGapCrit:
			g.Severity = Crit
			g.Explanation = "etcd refuses new requests (\"too many requests\") while applies trail commits by this much"
		case gap > t.ApplyGapWarn:
			g.Severity = Warn
			g.Explanation = "applies trail commits: the backend is slow (disk) or overloaded by expensive requests"
		}
		if g.Severity != OK {
			g.Advice = "check backend commit latency and large range requests (etcdmedic inventory shows what is big)"
		}
		d.add(d.member(m, g))

		if leaderCommitted > 0 && !st.IsLeader() && !m.IsLearner {
			lag := uint64(0)
			if leaderCommitted > st.Status.GetRaftIndex() {
				lag = leaderCommitted - st.Status.GetRaftIndex()
			}
			l := Finding{ID: "raft.followerLag", Severity: OK, Observed: fmt.Sprintf("%d entries behind the leader", lag),
				Threshold: fmt.Sprintf("warn > %d", t.FollowerLagWarn), Explanation: "the follower keeps up"}
			if lag > t.FollowerLagWarn {
				l.Severity = Warn
				l.Explanation = "past the leader's catch-up window a follower needs a full snapshot to recover"
				l.Advice = "check this member's disk and network; do not defragment or restart other members meanwhile"
			}
			d.add(d.member(m, l))
		}
	}
}
