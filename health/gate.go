package health

import (
	"fmt"
	"strings"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// A Gate decides from findings whether an action may go ahead now. Gates do
// not judge anything themselves: they filter the findings Assess made, so a
// member a gate refuses for is a member status and doctor flag too.
type Gate struct {
	Name string
	// blocks says whether one finding forbids the action.
	blocks func(ms *cluster.Membership, f Finding) bool
	// spare is how many voters must stay healthy beyond quorum while the
	// action takes one offline: 1 for defragmenting or restarting a voter.
	spare int
}

// TakeVoterOffline gates taking one voter offline (a defragmentation, a
// restart, a removal): every voter answers Status and a linearizable read, one
// agreed leader, no alarm but NOSPACE (defragmenting is NOSPACE's cure), every
// voter applied close to the leader, no defragmentation already running, no
// disk already critical (when latency was judged), and quorum holds with one
// voter fewer.
var TakeVoterOffline = Gate{Name: "take a voter offline", spare: 1, blocks: func(ms *cluster.Membership, f Finding) bool {
	if f.Severity == OK {
		return false
	}
	switch {
	case strings.HasPrefix(f.ID, "alarms."):
		return f.ID != "alarms.nospace"
	case f.ID == "quorum.leader", f.ID == "quorum.margin", f.ID == "members.oneCluster":
		return true
	case f.ID == "metrics.walFsyncP99", f.ID == "metrics.backendCommitP99":
		return f.Severity == Crit
	}
	if !isVoter(ms, f.Member) {
		return false
	}
	switch f.ID {
	case "status.reachable", "raft.applyGap", "raft.followerLag", "metrics.defragInflight":
		return true
	case "reads.linearizable":
		// A failed read, not a slow one: doctor warns about slow reads, but
		// a member that serves them still keeps quorum.
		return f.Severity != Warn
	}
	return false
}}

// AllowingDowntime is the gate without the spare voter: every other
// condition holds, but taking the voter offline may stop the cluster serving
// while it is gone (a one- or two-voter cluster, on explicit request).
func (g Gate) AllowingDowntime() Gate {
	g.Name += ", with downtime"
	g.spare = 0
	return g
}

// Ramp gates raising the break-glass apiserver's limits one more step: any
// critical finding, any voter that does not answer, a commit→apply gap or a
// follower past its warning level.
var Ramp = Gate{Name: "ramp", blocks: func(ms *cluster.Membership, f Finding) bool {
	switch {
	case f.Severity == Crit:
		return true
	case f.Severity == OK:
		return false
	case f.ID == "status.reachable", f.ID == "raft.applyGap", f.ID == "quorum.leader":
		return isVoter(ms, f.Member) || f.Member == ""
	}
	return false
}}

func isVoter(ms *cluster.Membership, id string) bool {
	for _, m := range ms.Voters() {
		if m.IDString() == id {
			return true
		}
	}
	return false
}

// Refusal is why a gate refuses: the blocking findings, in order.
type Refusal struct {
	Gate     string
	Findings []Finding
	// Margin is set when the healthy voters leave too little room.
	Margin string
	// NoSpareVoter: every voter is healthy, but there are too few (one or
	// two) for any to go offline without stopping the cluster.
	NoSpareVoter bool
}

func (r *Refusal) Error() string { return r.String() }

// String is the refusal in one line, the findings' own words, each cause
// once: a voter that does not answer serves no read either, and the margin
// says what the quorum finding says.
func (r *Refusal) String() string {
	silent := r.Silent()
	if lost := lostQuorum(r.Findings); lost != nil {
		// With quorum lost, say that first; no leader, no read and no
		// margin follow from it, and only the silent voters say why.
		parts := []string{"quorum lost: " + lost.Observed}
		for _, f := range r.Findings {
			if f.ID == "status.reachable" {
				parts = append(parts, gateReason(f))
			}
		}
		return strings.Join(parts, "; ")
	}
	var parts []string
	for _, f := range r.Findings {
		if f.ID == "reads.linearizable" && silent[f.Member] || f.ID == "quorum.margin" && r.Margin != "" {
			continue
		}
		parts = append(parts, gateReason(f))
	}
	if r.Margin != "" {
		parts = append(parts, r.Margin)
	}
	return strings.Join(parts, "; ")
}

func gateReason(f Finding) string {
	who := f.MemberName
	if who == "" {
		who = f.Member
	}
	switch f.ID {
	case "status.reachable":
		if f.Severity == Crit {
			return fmt.Sprintf("member %s: %s", who, f.Observed)
		}
		return fmt.Sprintf("voter %s does not answer: %s", who, f.Observed)
	case "reads.linearizable":
		return fmt.Sprintf("voter %s serves no linearizable read: %s", who, f.Observed)
	case "metrics.walFsyncP99", "metrics.backendCommitP99":
		what := "WAL fsync"
		if f.ID == "metrics.backendCommitP99" {
			what = "backend commit"
		}
		return fmt.Sprintf("voter %s: %s %s is already critical (%s)", who, what, f.Observed, f.Threshold)
	case "metrics.defragInflight":
		return fmt.Sprintf("member %s is still defragmenting (etcd_disk_defrag_inflight=1)", who)
	}
	if f.ID == "members.oneCluster" {
		return "the endpoints belong to different clusters: " + f.Observed
	}
	if strings.HasPrefix(f.ID, "alarms.") {
		return fmt.Sprintf("%s on member %s: never take a member offline in a cluster that may be corrupt", f.Reason(), who)
	}
	if who != "" {
		return fmt.Sprintf("%s %s: %s", f.ID, who, f.Reason())
	}
	return fmt.Sprintf("%s: %s", f.ID, f.Reason())
}

// Check returns nil when the findings allow the action, else the refusal.
func (g Gate) Check(snap *cluster.Sample, fs []Finding) *Refusal {
	r := &Refusal{Gate: g.Name}
	blockedVoter := map[string]bool{}
	for _, f := range fs {
		if g.blocks(snap.Membership, f) {
			r.Findings = append(r.Findings, f)
			if f.Member != "" {
				blockedVoter[f.Member] = true
			}
		}
	}
	if g.spare > 0 {
		q := snap.QuorumState()
		healthy := 0
		for _, st := range snap.Members {
			if !st.Member.IsLearner && st.OK() && !blockedVoter[st.Member.IDString()] {
				healthy++
			}
		}
		if healthy-g.spare < q.Needed {
			offline := fmt.Sprintf("%d voters", g.spare)
			if g.spare == 1 {
				offline = "one"
			}
			r.Margin = fmt.Sprintf("quorum margin: %d healthy voters, %d needed with %s offline", healthy, q.Needed, offline)
			r.NoSpareVoter = q.Voters <= 2 && healthy == q.Voters
		}
	}
	if len(r.Findings) == 0 && r.Margin == "" {
		return nil
	}
	return r
}

// OnlySilent is the one member the refusal names as not answering, when
// that is its only cause (what follows from it, its reads and the quorum
// margin, aside): the refusal a dead member makes.
func (r *Refusal) OnlySilent() (Finding, bool) {
	silent := r.Silent()
	if len(silent) != 1 || r.NoSpareVoter {
		return Finding{}, false
	}
	var one Finding
	for _, f := range r.Findings {
		switch {
		case f.ID == "status.reachable":
			one = f
		case f.ID == "quorum.margin", silent[f.Member]:
		default:
			return Finding{}, false
		}
	}
	return one, true
}

// Silent are the members (by ID) the refusal names as not answering Status.
func (r *Refusal) Silent() map[string]bool {
	silent := map[string]bool{}
	for _, f := range r.Findings {
		if f.ID == "status.reachable" {
			silent[f.Member] = true
		}
	}
	return silent
}
