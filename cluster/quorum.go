package cluster

import "sort"

// QuorumState counts the voters of one sample: how many there are, how many
// answered Status, and how many quorum needs. Facts only; health judges them.
type QuorumState struct {
	Voters, Reachable, Needed int
	Lost                      bool
}

// QuorumState counts this sample's voters.
func (s *Sample) QuorumState() QuorumState {
	var q QuorumState
	for _, st := range s.Members {
		if st.Member.IsLearner {
			continue
		}
		q.Voters++
		if st.OK() {
			q.Reachable++
		}
	}
	q.Needed = Quorum(q.Voters)
	q.Lost = q.Reachable < q.Needed
	return q
}

// Leader returns the leader most reachable members name, and whether all of them agree.
func (s *Sample) Leader() (uint64, bool) {
	votes := map[uint64]int{}
	for _, st := range s.Members {
		if st.OK() && st.Status.GetLeader() != 0 {
			votes[st.Status.GetLeader()]++
		}
	}
	var best uint64
	for id, n := range votes {
		if n > votes[best] || (n == votes[best] && id < best) {
			best = id
		}
	}
	return best, len(votes) == 1
}

// Alarms is the union of the alarms every reachable member reports in its
// Status, ordered by member and type.
func (s *Sample) Alarms() []Alarm {
	seen := map[Alarm]bool{}
	var out []Alarm
	for _, st := range s.Members {
		for _, a := range st.Alarms {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].MemberID != out[j].MemberID {
			return out[i].MemberID < out[j].MemberID
		}
		return out[i].Type < out[j].Type
	})
	return out
}
