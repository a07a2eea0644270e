package breakglass

import (
	"log/slog"
	"slices"
	"strings"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// ActForceNew records the members a force-new-cluster left out, once the
// flag is in the manifest: the plan then names the commands that bring each
// back, long after the force's own output has scrolled away. Nothing to undo:
// the manifest edits carry their own entries.
const ActForceNew = "force-new-cluster"

// LostMember is a member of the old cluster that the force left out.
type LostMember struct {
	ID       string   `json:"id"`
	Name     string   `json:"name,omitempty"`
	PeerURLs []string `json:"peerURLs,omitempty"`
}

// Rejoin is how one lost member comes back, its commands with the flags in
// effect: Add on the survivor, then the member started on an empty data dir
// with the flags Add prints, then Promote.
type Rejoin struct {
	Name     string   `json:"name"`
	PeerURLs []string `json:"peerURLs"`
	Add      string   `json:"add"`
	Promote  string   `json:"promote"`
}

// Lost are the old members other than the forced one.
func (r *ForceNewReport) Lost() []LostMember {
	var out []LostMember
	for _, om := range r.OldMembers {
		if !om.Self {
			out = append(out, LostMember{ID: om.ID, Name: om.Name, PeerURLs: om.PeerURLs})
		}
	}
	return out
}

// journalLost records the lost members. A journal that cannot take the
// entry does not undo a force already in the manifest: the force's output
// names the same commands, and the plan falls back to its template.
func (r *ForceNewReport) journalLost(j *Journal) {
	if _, err := j.Append(Entry{Action: ActForceNew, Result: ResultOK, Path: r.Manifest,
		Detail: "members left out of cluster " + r.ClusterID, Members: r.Lost()}); err != nil {
		slog.Warn("the lost members were not journaled; 'breakglass plan' will not name them", "err", err)
	}
}

// RejoinCommands are the lost members that can come back under their own
// name and peer URLs (etcd forgot them with the force), sorted by name: the
// old list's order is etcd's (by member ID), which a person reading the
// steps does not know the members by. A member with no name or peer URL in
// the old list gets no exact command.
func RejoinCommands(lost []LostMember, command CommandLine) []Rejoin {
	var out []Rejoin
	for _, m := range lost {
		if m.Name == "" || len(m.PeerURLs) == 0 {
			continue
		}
		out = append(out, Rejoin{Name: m.Name, PeerURLs: m.PeerURLs,
			Add:     command("member", "add", m.Name, "--peer-urls", strings.Join(m.PeerURLs, ",")),
			Promote: command("member", "promote", m.Name, "--wait", "30m")})
	}
	slices.SortFunc(out, func(a, b Rejoin) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// lostByForce are the members the newest force-new-cluster left out.
func lostByForce(entries []Entry) []LostMember {
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].Action == ActForceNew && entries[i].Result == ResultOK {
			return entries[i].Members
		}
	}
	return nil
}

// rejoinSteps bring the lost members back, add then promote, one member at
// a time; without names from the journal, the template to fill in.
func rejoinSteps(rs []Rejoin, command CommandLine) []PlanStep {
	if len(rs) == 0 {
		return []PlanStep{
			{Title: "Move the lost members' data dirs aside and re-add each as a learner, one at a time", Command: command("member", "add", "<name>", "--peer-urls", "<url>"), State: StatePending},
			{Title: "Promote each learner once it has caught up", Command: command("member", "promote", "<name>", "--wait", "10m"), State: StatePending},
		}
	}
	var steps []PlanStep
	for _, r := range rs {
		steps = append(steps,
			PlanStep{Title: "Bring " + r.Name + " back as a learner: move its old data dir aside on its node, run this, then start " + r.Name + " on an empty data dir with the flags it prints", Command: r.Add, State: StatePending, Member: r.Name, rejoin: rejoinAdd},
			PlanStep{Title: "Promote " + r.Name + " once it has caught up", Command: r.Promote, State: StatePending, Member: r.Name, rejoin: rejoinPromote})
	}
	return steps
}

const (
	rejoinAdd = iota + 1
	rejoinPromote
)

// MarkRejoined marks done the rejoin steps the cluster's member list shows:
// a member on the lost member's peer URLs is added (before it starts it has
// no name in the list), and promoted once it is a voter. The next step moves
// along with them.
//
// A cluster with as many voters as before the force has grown back, however
// (a journal outlives its incident: members since replaced under other names
// would leave their old steps pending for good).
func (r *PlanReport) MarkRejoined(members []cluster.Member) {
	voters := 0
	for _, m := range members {
		if !m.IsLearner {
			voters++
		}
	}
	regrown := r.lost > 0 && voters > r.lost
	peers := map[string][]string{}
	for _, rj := range r.Rejoin {
		peers[rj.Name] = rj.PeerURLs
	}
	for i := range r.Steps {
		s := &r.Steps[i]
		if s.rejoin == 0 {
			continue
		}
		if regrown {
			s.State = StateDone
			continue
		}
		for _, m := range members {
			if slices.ContainsFunc(m.PeerURLs, func(u string) bool { return slices.Contains(peers[s.Member], u) }) &&
				(s.rejoin == rejoinAdd || !m.IsLearner) {
				s.State = StateDone
			}
		}
	}
	for i := range r.Steps {
		if r.Steps[i].State == StateNext {
			r.Steps[i].State = StatePending
		}
	}
	r.Steps = number(r.Steps)
}
