package breakglass

import "strings"

// forceFlagSteps is a first runbook step while a force-new-cluster edit of
// the etcd manifest is still open (an offline run, or one that stopped
// before it could take the flag out): the flag forces again at every start
// and throws away every member added since, so nothing comes before it.
func forceFlagSteps(l *Layout, j *Journal, command CommandLine) []PlanStep {
	path := l.Rel(l.ManifestDir + "/etcd.yaml")
	if m, err := l.etcdManifest(); err == nil {
		path = l.Rel(m.Path)
	}
	chain, err := openEdits(j, path, forceReason)
	if err != nil || len(chain) == 0 {
		return nil
	}
	return []PlanStep{{Title: "Take --force-new-cluster out of the etcd manifest again, once the member has started with it", Command: command("breakglass", "force-new-cluster", "--remove-flag"), State: StatePending,
		Detail: "left in, it forces a one-member cluster at every start"}}
}

// QuorumLossRunbook replaces the steps when fewer voters answer than quorum
// needs (the caller asked etcd): bring members back etcd-only where their
// data is intact, otherwise choose the survivor, force it into a one-member
// cluster, re-grow with learners, and give a big database time to start.
func (r *PlanReport) QuorumLossRunbook(l *Layout, j *Journal, command CommandLine) {
	forced := false
	if entries, err := j.Read(); err == nil {
		for _, e := range entries {
			if e.Action == ActEditManifest && e.Result == ResultOK && strings.HasPrefix(e.Detail, forceReason) {
				forced = true
			}
		}
	}
	open := forceFlagSteps(l, j, command)
	steps := append(open,
		PlanStep{Title: "Bring members back etcd-only where their data is intact (on each member's disk)", Command: command("breakglass", "etcd-only", "--root", "/mnt/<member-disk>"), State: state(forced),
			Detail: "then start them; if quorum returns, this runbook is not needed"},
		PlanStep{Title: "Otherwise choose the survivor with the newest committed data (offline, read-only)", Command: command("breakglass", "survivors", "--root", "/mnt/<member-disk>", "--root", "/mnt/<member-disk>"), State: state(forced)},
		PlanStep{Title: "Force it into a one-member cluster with its data (on its node; refused while another old member answers)", Command: command("breakglass", "force-new-cluster"), State: state(forced && len(open) == 0)},
	)
	steps = append(steps, rejoinSteps(r.Rejoin, command)...)
	steps = append(steps,
		PlanStep{Title: "Where a member cannot start inside its probes: size the startup probe to it, or defragment it offline", Command: command("breakglass", "probes", "--relax"), State: StatePending,
			Detail: "or, with the member stopped: " + command("breakglass", "defrag-offline")},
	)
	r.Steps = number(steps)
}

// number numbers the steps and marks the first pending one next.
func number(steps []PlanStep) []PlanStep {
	next := false
	for i := range steps {
		steps[i].Step = i + 1
		if steps[i].State == StatePending && !next {
			steps[i].State, next = StateNext, true
		}
	}
	return steps
}
