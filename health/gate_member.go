package health

import (
	"strings"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// AssessMembers judges the member list alone (learners, members added but
// never started, an even number of voters): the findings doctor shows first,
// which the membership gates read with Assess's.
func AssessMembers(ms *cluster.Membership, connection string) []Finding {
	d := &judge{ms: ms, connection: connection}
	d.checkMembers()
	return d.out
}

// AddLearner gates adding a member as a learner: every voter answers, serves
// a linearizable read and is caught up, one agreed leader, no alarm at all,
// and no other learner or unstarted member (etcd allows one learner, and a
// member added but never started already holds the slot). No voter goes
// offline, so no spare is needed; etcd's own check still wants every voter
// connected to the one that serves the request.
var AddLearner = Gate{Name: "add a learner", blocks: func(ms *cluster.Membership, f Finding) bool {
	switch {
	case f.ID == "members.learner", f.ID == "members.unstarted":
		return true
	case strings.HasPrefix(f.ID, "alarms."):
		return f.Severity != OK
	}
	return growBlocks(ms, f)
}}

// growBlocks is TakeVoterOffline's judgement for a change that takes no
// voter offline: a thin quorum margin (two voters) is not a reason to refuse
// it, it is why a cluster forced down to one member is grown back; a lost
// quorum still is, and every voter must still answer (status.reachable).
func growBlocks(ms *cluster.Membership, f Finding) bool {
	if f.ID == "quorum.margin" {
		return f.Severity == Crit
	}
	return TakeVoterOffline.blocks(ms, f)
}

// MoveLeadership gates `member move-leader`: the move counts as done only
// once every voter names the new leader, so every voter must answer, serve a
// linearizable read and be caught up, under one agreed leader, before
// anything moves (a hung voter would leave the move made but unverified).
// No voter goes offline: a thin margin alone is no reason to refuse.
var MoveLeadership = Gate{Name: "move leadership", blocks: growBlocks}

// PromoteLearner gates promoting a learner: the voter count grows by one, so
// every voter must be healthy now (the defrag gate's conditions without its
// spare voter). How far the learner trails is etcd's to judge: it refuses a
// learner below 90 % of the leader's log.
var PromoteLearner = Gate{Name: "promote a learner", blocks: growBlocks}

// RemoveMember gates removing the member with this ID (hex): every voter
// that remains answers, serves a linearizable read and is caught up, they
// agree on one leader, and no alarm but NOSPACE. The member removed may be
// dead: that is the common case (a stale member left behind). A healthy
// member may not be removed while another voter is down: what remains would
// have less margin than the member list says.
func RemoveMember(id string) Gate {
	return Gate{Name: "remove member " + id, blocks: func(ms *cluster.Membership, f Finding) bool {
		if f.Severity == OK {
			return false
		}
		switch {
		case f.ID == "members.oneCluster", f.ID == "quorum.leader":
			return true
		case f.ID == "quorum.margin":
			return f.Severity == Crit
		case strings.HasPrefix(f.ID, "alarms."):
			return f.ID != "alarms.nospace"
		case f.ID == "metrics.walFsyncP99", f.ID == "metrics.backendCommitP99":
			return f.Severity == Crit
		}
		if f.Member == id || !isVoter(ms, f.Member) {
			return false
		}
		switch f.ID {
		case "status.reachable", "raft.applyGap", "raft.followerLag", "metrics.defragInflight":
			return true
		case "reads.linearizable":
			return f.Severity != Warn
		}
		return false
	}}
}
