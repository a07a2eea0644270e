package cluster

import (
	"errors"
	"fmt"
	"sort"
)

// Verdicts, one word per member, most serious last.
const (
	VerdictHealthy     = "healthy"
	VerdictDegraded    = "degraded"
	VerdictCritical    = "critical"
	VerdictUnreachable = "unreachable"
	VerdictUnknown     = "unknown" // answered, but refused us (auth): we cannot tell
)

// Thresholds for the one-word status verdict. The disk numbers are the
// upstream etcd mixin's warning levels (etcdHighFsyncDurations 0.5 s,
// etcdHighCommitDurations 0.25 s); the apply-gap numbers follow etcd, which
// refuses new proposals once committed − applied exceeds 5000
// (maxGapBetweenApplyAndCommitIndex). 90 % quota is ours: the point where a
// write burst can raise NOSPACE before anyone acts.
const (
	verdictFsyncP99Degraded  = 0.5
	verdictCommitP99Degraded = 0.25
	verdictApplyGapDegraded  = 1000
	verdictApplyGapCritical  = 5000
	verdictQuotaDegraded     = 0.90
)

// ClusterVerdict sums up a snapshot for the exit code.
type ClusterVerdict struct {
	Voters      int
	Quorum      int
	Reachable   int // voters that answered Status
	LeaderID    uint64
	LeaderAgree bool
	QuorumLost  bool
	Alarms      []Alarm
	Worst       string   // worst member verdict
	Reasons     []string // why the cluster is not plainly healthy
}

// MemberVerdict judges one member in the context of the snapshot.
func (s *Snapshot) MemberVerdict(st *MemberStatus) (string, []string) {
	if st.Err != nil {
		if errors.Is(st.Err, ErrAuth) {
			return VerdictUnknown, []string{"authentication refused"}
		}
		return VerdictUnreachable, []string{"no answer"}
	}
	verdict, reasons := VerdictHealthy, []string(nil)
	raise := func(v, reason string) {
		if rank(v) > rank(verdict) {
			verdict = v
		}
		reasons = append(reasons, reason)
	}
	for _, a := range s.alarms() {
		if a.MemberID == st.Member.ID {
			raise(VerdictCritical, "alarm "+a.Type)
		}
	}
	if st.Status.GetLeader() == 0 {
		raise(VerdictCritical, "no leader")
	} else if lead, agree := s.Leader(); agree && lead != st.Status.GetLeader() {
		raise(VerdictDegraded, "disagrees on the leader")
	}
	switch gap := st.ApplyLag(); {
	case gap > verdictApplyGapCritical:
		raise(VerdictCritical, fmt.Sprintf("apply gap %d entries", gap))
	case gap > verdictApplyGapDegraded:
		raise(VerdictDegraded, fmt.Sprintf("apply gap %d entries", gap))
	}
	if p, ok := st.WALFsyncP99(); ok && p > verdictFsyncP99Degraded {
		raise(VerdictDegraded, fmt.Sprintf("WAL fsync p99 %.0fms", p*1000))
	}
	if p, ok := st.BackendCommitP99(); ok && p > verdictCommitP99Degraded {
		raise(VerdictDegraded, fmt.Sprintf("backend commit p99 %.0fms", p*1000))
	}
	if u := st.QuotaUsage(); u >= verdictQuotaDegraded {
		raise(VerdictDegraded, fmt.Sprintf("DB at %.0f%% of quota", u*100))
	}
	return verdict, reasons
}

func rank(v string) int {
	switch v {
	case VerdictHealthy:
		return 0
	case VerdictDegraded:
		return 1
	case VerdictUnknown:
		return 2
	case VerdictUnreachable:
		return 3
	case VerdictCritical:
		return 4
	}
	return 0
}

// Leader returns the leader most reachable members name, and whether all of them agree.
func (s *Snapshot) Leader() (uint64, bool) {
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

// alarms is the union of the alarms every reachable member reports.
func (s *Snapshot) alarms() []Alarm {
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

// Alarms is every alarm any reachable member reports.
func (s *Snapshot) Alarms() []Alarm { return s.alarms() }

// Verdict sums up the cluster.
func (s *Snapshot) Verdict() ClusterVerdict {
	v := ClusterVerdict{Alarms: s.alarms(), Worst: VerdictHealthy}
	for _, st := range s.Members {
		if st.Member.IsLearner {
			continue
		}
		v.Voters++
		if st.OK() {
			v.Reachable++
		}
	}
	v.Quorum = Quorum(v.Voters)
	v.LeaderID, v.LeaderAgree = s.Leader()
	v.QuorumLost = v.Reachable < v.Quorum
	for _, st := range s.Members {
		mv, _ := s.MemberVerdict(st)
		if rank(mv) > rank(v.Worst) {
			v.Worst = mv
		}
	}
	if v.QuorumLost {
		v.Reasons = append(v.Reasons, fmt.Sprintf("quorum lost: %d of %d voters answer, %d needed", v.Reachable, v.Voters, v.Quorum))
	}
	if v.LeaderID == 0 && v.Reachable > 0 {
		v.Reasons = append(v.Reasons, "no member reports a leader")
	} else if !v.LeaderAgree {
		v.Reasons = append(v.Reasons, "members disagree on the leader")
	}
	for _, a := range v.Alarms {
		v.Reasons = append(v.Reasons, fmt.Sprintf("alarm %s on member %s", a.Type, FormatID(a.MemberID)))
	}
	return v
}

// Severity maps the cluster verdict to the status exit code contract:
// 0 all healthy, 1 degraded but quorum holds, 2 quorum lost / no leader /
// alarm, 3 nothing reachable (or every member refused us).
func (v ClusterVerdict) Severity(s *Snapshot) int {
	anyAnswered, allAuth := false, true
	for _, st := range s.Members {
		if st.OK() {
			anyAnswered = true
		}
		if st.Err == nil || !errors.Is(st.Err, ErrAuth) {
			allAuth = false
		}
	}
	switch {
	case !anyAnswered || allAuth:
		return 3
	case v.QuorumLost, v.LeaderID == 0, len(v.Alarms) > 0, v.Worst == VerdictCritical:
		return 2
	case v.Worst != VerdictHealthy, !v.LeaderAgree:
		return 1
	}
	return 0
}
