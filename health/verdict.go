package health

import (
	"errors"
	"strings"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// Verdicts, one word per member or cluster: the roll-up of its findings.
const (
	VerdictHealthy     = "healthy"
	VerdictDegraded    = "degraded"    // a warning, or a member that does not answer while quorum holds
	VerdictCritical    = "critical"    // a critical finding
	VerdictUnreachable = "unreachable" // the member (or every member) did not answer
	VerdictUnknown     = "unknown"     // answered, but refused us (auth): we cannot tell
)

// MemberVerdict is one member's roll-up.
type MemberVerdict struct {
	Verdict  string
	Severity Severity
	Reasons  []string
}

// ClusterVerdict is the cluster's roll-up: the worst of its findings, where a
// member that does not answer makes the cluster degraded while quorum holds
// (the quorum finding says how much margin is left), and nothing answering
// at all is "cannot tell".
type ClusterVerdict struct {
	Verdict  string
	Severity Severity
	Reasons  []string
}

// MemberVerdictOf rolls up the findings about one member.
func MemberVerdictOf(st *cluster.MemberStatus, fs []Finding) MemberVerdict {
	v := MemberVerdict{Verdict: VerdictHealthy, Severity: OK}
	if !st.OK() {
		v.Verdict, v.Severity = VerdictUnreachable, Unknown
		reason := "no answer"
		if errors.Is(st.Err, cluster.ErrAuth) {
			v.Verdict, reason = VerdictUnknown, "authentication refused"
		}
		v.Reasons = []string{reason}
	} else if st.Status.GetLeader() == 0 {
		// It answers, but follows no leader: it serves no request (quorum
		// lost, or an election under way), whatever else is fine.
		v.Verdict, v.Severity, v.Reasons = VerdictCritical, Crit, []string{"no leader"}
	} else if lostQuorum(fs) != nil {
		// For up to an election timeout after its voters went, a leader
		// still names itself (and a follower it) until check-quorum steps
		// it down: a row that says healthy beside "quorum lost" would be
		// believed.
		reason := "quorum lost: it serves no write and no linearizable read"
		if st.Status.GetLeader() == st.Member.ID {
			reason = "leads without quorum: etcd steps it down within an election timeout; it serves no write"
		}
		v.Verdict, v.Severity, v.Reasons = VerdictCritical, Crit, []string{reason}
	}
	id := st.Member.IDString()
	for _, f := range fs {
		if f.Member != id || f.Severity == OK || f.ID == "status.reachable" && f.Severity == Unknown {
			continue
		}
		v.Reasons = append(v.Reasons, f.Reason())
		switch {
		case f.Severity == Crit:
			v.Verdict, v.Severity = VerdictCritical, Crit
		case v.Verdict == VerdictHealthy:
			v.Verdict, v.Severity = VerdictDegraded, Warn
		}
	}
	return v
}

// lostQuorum is the finding that says quorum is lost, or nil.
func lostQuorum(fs []Finding) *Finding {
	for i, f := range fs {
		if f.ID == "quorum.margin" && f.Severity == Crit {
			return &fs[i]
		}
	}
	return nil
}

// ClusterVerdictOf rolls up every finding of one sample.
func ClusterVerdictOf(snap *cluster.Sample, fs []Finding) ClusterVerdict {
	answered, allAuth := false, true
	for _, st := range snap.Members {
		if st.OK() {
			answered = true
		}
		if st.Err == nil || !errors.Is(st.Err, cluster.ErrAuth) {
			allAuth = false
		}
	}
	v := ClusterVerdict{Verdict: VerdictHealthy, Severity: OK}
	for _, f := range fs {
		if f.Severity == OK {
			continue
		}
		if f.Member == "" || strings.HasPrefix(f.ID, "alarms.") {
			v.Reasons = append(v.Reasons, clusterReason(f))
		}
		switch {
		case f.Severity == Crit:
			v.Verdict, v.Severity = VerdictCritical, Crit
		case v.Severity == OK:
			v.Verdict, v.Severity = VerdictDegraded, Warn
		}
	}
	if !answered {
		v.Verdict, v.Severity = VerdictUnreachable, Unknown
		if allAuth && len(snap.Members) > 0 {
			v.Verdict = VerdictUnknown
		}
	}
	return v
}

func clusterReason(f Finding) string {
	if f.MemberName != "" {
		return f.Reason() + " on " + f.MemberName
	}
	if f.Member != "" {
		return f.Reason() + " on member " + f.Member
	}
	return f.Reason()
}
