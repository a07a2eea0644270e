package member

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// ReplaceOptions describe one replacement: OLD goes, NEW (a fresh member
// with its own peer URLs) takes its place, one member at a time.
type ReplaceOptions struct {
	Old      string
	Name     string
	PeerURLs []string
	// StateFile is the journal; the same command with the same file
	// resumes where a run stopped.
	StateFile string
	// Wait bounds how long NEW may take to start and catch up.
	Wait         time.Duration
	AgreeTimeout time.Duration
	Thresholds   health.Thresholds
	Retry        time.Duration
	// KeepOldRunning removes OLD while it still serves instead of waiting
	// for the operator to stop it: etcd then stops it itself, and requests
	// in flight on it fail ("raft: stopped"), which stopping it first
	// (a graceful stop drains its gRPC server) avoids.
	KeepOldRunning bool
	// OnStep hears of each step as it ends (done, skipped as journaled, or
	// the step that prints how NEW must start).
	OnStep func(step, detail string)
}

// OpenJournal loads the state file and checks that it is this replacement's.
func OpenJournal(o ReplaceOptions) (*Journal, bool, error) {
	j, found, err := LoadJournal(o.StateFile)
	if err != nil || !found {
		return j, found, err
	}
	if j.Name != o.Name || !slices.Equal(j.PeerURLs, o.PeerURLs) || (j.Old != o.Old && j.OldName != o.Old) {
		return nil, false, fault.New(fault.Invalid, fmt.Sprintf("state file %s is for another replacement (%s → %s at %s); give another --state-file, or delete it if that one is over",
			o.StateFile, label(j.OldName, j.Old), j.Name, strings.Join(j.PeerURLs, ",")))
	}
	return j, true, nil
}

func label(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

// PlanReplace is the journal as it stands and the verdict of the gate the
// next step needs, changing nothing.
func PlanReplace(ctx context.Context, c *cluster.Cluster, o ReplaceOptions) (*Journal, *Gate, error) {
	if err := ValidateNew(o.Name, o.PeerURLs); err != nil {
		return nil, nil, err
	}
	j, found, err := OpenJournal(o)
	if err != nil {
		return nil, nil, err
	}
	ms, err := c.Members(ctx)
	if err != nil {
		return nil, nil, err
	}
	// Which order the replacement takes is decided until the gate is
	// passed (nothing changes before it): an OLD that was down when a run
	// stopped may be back, and then goes last again.
	down := make(chan bool, 1)
	var reuse error
	if !found || !j.IsDone(StepGate) {
		ref := o.Old
		if found {
			ref = j.Old
		}
		old, err := Resolve(ms, ref)
		if err != nil {
			return nil, nil, ms.Explain(err)
		}
		if reuse, err = checkReplacement(ms, old, o); err != nil {
			return nil, nil, ms.Explain(err)
		}
		j.Old, j.OldName, j.Name, j.PeerURLs = old.IDString(), old.Name, o.Name, o.PeerURLs
		// Beside the gate: a hung OLD makes both wait.
		go func() { down <- oldDown(ctx, c, old) }()
	} else {
		down <- j.OldDown
	}
	var gate health.Gate
	switch j.Next() {
	case StepGate, StepAdd:
		gate = health.AddLearner
	case StepPromote:
		gate = health.PromoteLearner
	case StepMoveLeader, StepStopOld:
		gate = health.TakeVoterOffline
	case StepRemove:
		gate = health.RemoveMember(j.Old)
	default:
		gate = health.PromoteLearner
	}
	// The gate before the one-cluster check: both wait for a hung member,
	// and in this order the waits overlap.
	g := Judge(ctx, c, ms, gate, o.Thresholds)
	if j.OldDown = <-down; j.OldDown && j.Next() == StepGate {
		g.Refusal = health.RemoveMember(j.Old).Check(g.Snapshot, g.Findings)
	}
	if reuse != nil && !j.OldDown {
		return nil, nil, ms.Explain(fault.New(fault.Invalid, fmt.Sprintf("%s: %s still answers, and etcd cannot list it and the new member at once; stop it and run this again (it is then removed before the new member is added), or give the new member a name and peer URL of its own", reuse, label(j.OldName, j.Old))))
	}
	if err := ms.OneCluster(); err != nil {
		return nil, nil, err
	}
	return j, g, nil
}

// checkReplacement refuses an OLD that is no voter and a NEW whose name or
// peer URL another member has. reuse is set when NEW takes OLD's own: a node
// rebuilt in place comes back with them, and since etcd cannot list both,
// that works only when OLD goes first.
func checkReplacement(ms *cluster.Membership, old cluster.Member, o ReplaceOptions) (reuse, err error) {
	if old.IsLearner {
		return nil, fault.New(fault.Invalid, fmt.Sprintf("%s is a learner: remove it ('member remove'), there is no voter to replace", old.Label()))
	}
	others := &cluster.Membership{ClusterID: ms.ClusterID}
	for _, m := range ms.Members {
		if m.ID != old.ID {
			others.Members = append(others.Members, m)
		}
	}
	if err := CheckNew(others, o.Name, o.PeerURLs); err != nil {
		return nil, err
	}
	return CheckNew(&cluster.Membership{Members: []cluster.Member{old}}, o.Name, o.PeerURLs), nil
}

// StopOnGate is the plan's refusal, journaled as where the run stopped, when
// the gate binds the next step; nil when it holds. Moving leadership and
// stopping OLD are judged when they run instead: with two voters, or with
// --keep-old-running, OLD is not stopped and its gate does not apply.
// Refusing on the plan's verdict spares a second wait for a hung member.
func StopOnGate(j *Journal, g *Gate) error {
	next := j.Next()
	if g == nil || next == StepMoveLeader || next == StepStopOld {
		return nil
	}
	if err := g.Err("replace " + label(j.OldName, j.Old)); err != nil {
		return j.stopped(next, err)
	}
	return nil
}

// Replace runs (or resumes) the replacement: gate → add NEW as a learner →
// wait until it has started and caught up, promote → move leadership off
// OLD → remove OLD → final gate and HashKV of every voter; with OLD down,
// gate → remove OLD → add → promote → verify (StepsOldDown). Every step is
// journaled before the next begins.
func Replace(ctx context.Context, c *cluster.Cluster, o ReplaceOptions) (*Journal, error) {
	j, g, err := PlanReplace(ctx, c, o)
	if err != nil {
		return nil, err
	}
	return ReplacePlanned(ctx, c, o, j, g)
}

// ReplacePlanned runs the replacement PlanReplace just planned: a caller
// that showed the plan and goes on without asking anyone (--yes) acts on
// its verdict instead of judging the same gate again, which costs a hung
// member's timeout each time.
func ReplacePlanned(ctx context.Context, c *cluster.Cluster, o ReplaceOptions, j *Journal, g *Gate) (*Journal, error) {
	if j.Started.IsZero() {
		j.Started = time.Now().UTC()
	}
	if err := StopOnGate(j, g); err != nil {
		return j, err
	}
	note := func(step, detail string) {
		if o.OnStep != nil {
			o.OnStep(step, detail)
		}
	}
	// The plan's verdict stands for a removal until this run has changed
	// something: the gate step changes nothing.
	fresh := g
	for _, s := range j.Steps() {
		if j.IsDone(s) {
			note(s, "done before (journal)")
			continue
		}
		if err := ctx.Err(); err != nil {
			return j, j.stopped(s, fault.Mark(fmt.Errorf("replace: interrupted before %s: %w", s, err), fault.Failed))
		}
		detail, err := replaceStep(ctx, c, o, j, s, note, fresh)
		if err != nil {
			return j, j.stopped(s, err)
		}
		if err := j.done(s); err != nil {
			return j, err
		}
		note(s, detail)
		if s != StepGate {
			fresh = nil
		}
	}
	return j, nil
}

// oldDown: OLD has not answered Status for stopSilence, however many
// probes that took (one, for a hung member). One quick failure could be a
// blip of a member under load, and removing it first would leave the
// cluster a voter short while NEW catches up.
func oldDown(ctx context.Context, c *cluster.Cluster, old cluster.Member) bool {
	start := time.Now()
	for {
		if c.ProbeMember(ctx, old, cluster.ProbeOptions{SkipMetrics: true}).OK() {
			return false
		}
		if time.Since(start) >= stopSilence {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		t := time.NewTimer(stopPoll)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// fresh is the plan's gate verdict while nothing has changed since; its
// gate is the removal of OLD when OLD's removal is the first step that
// changes anything (OLD down, or a run resumed there).
func replaceStep(ctx context.Context, c *cluster.Cluster, o ReplaceOptions, j *Journal, s string, note func(string, string), fresh *Gate) (string, error) {
	switch s {
	case StepGate:
		// The first step, so the plan of this run judged its gate a moment
		// ago, and StopOnGate let the run go on only if it held.
		if j.OldDown {
			return fmt.Sprintf("every other voter healthy: %s does not answer, so it is removed first (etcd refuses an add while a voter is down)", label(j.OldName, j.Old)), nil
		}
		return "every voter healthy, no learner", nil
	case StepAdd:
		// A run stopped between etcd's answer and the journal's write left
		// NEW in the list already: take it rather than add a second one.
		if ms, err := c.Members(ctx); err == nil {
			for _, m := range ms.Members {
				if m.IsLearner && (m.Name == o.Name || (len(m.PeerURLs) > 0 && sameURL(m.PeerURLs[0], o.PeerURLs[0]))) {
					start := startFlags(ms, m.ID, o.Name, o.PeerURLs)
					j.NewID, j.Start = m.IDString(), &start
					return fmt.Sprintf("%s was added already as learner %s", o.Name, j.NewID), j.save()
				}
			}
		}
		a, err := Add(ctx, c, AddOptions{Name: o.Name, PeerURLs: o.PeerURLs, Thresholds: o.Thresholds, Retry: o.Retry,
			OnRefused: func(reason string) { note(StepAdd, reason) }})
		if err != nil {
			return "", err
		}
		j.NewID, j.Start = a.Member.IDString(), &a.Start
		if err := j.save(); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s added as learner %s", o.Name, j.NewID), nil
	case StepPromote:
		if j.Start != nil {
			note("start", fmt.Sprintf("waiting up to %s for %s to start and catch up; start it now, on an empty data dir, with: %s", o.Wait, o.Name, strings.Join(j.Start.Flags, " ")))
			if err := j.waiting("start " + o.Name); err != nil {
				return "", err
			}
		}
		p, err := Promote(ctx, c, j.NewID, PromoteOptions{Wait: o.Wait, Verify: o.AgreeTimeout, Thresholds: o.Thresholds})
		if err != nil {
			return "", err
		}
		if ms, err := c.Members(ctx); err == nil {
			if m, ok := ms.Get(p.Member.ID); ok {
				j.NewClientURLs = m.ClientURLs
			}
		}
		return fmt.Sprintf("%s is a voter, listed by %d members", o.Name, len(p.ListedBy)), nil
	case StepMoveLeader:
		ms, err := c.Members(ctx)
		if err != nil {
			return "", err
		}
		id, _ := parseID(j.Old)
		snap := c.Probe(ctx, ms, cluster.ProbeOptions{SkipMetrics: true})
		if st := statusOf(snap, id); st == nil || !st.IsLeader() {
			return label(j.OldName, j.Old) + " does not lead", nil
		}
		// NEW is preferred when it is caught up: it stays longest. In a
		// rolling replacement of every member, a move to any other voter
		// hands leadership to one that is replaced next and must move again,
		// and every move makes etcd drop the proposals that reach the
		// leader while it transfers (clients see "raft proposal dropped" or
		// a timeout).
		newID, _ := parseID(j.NewID)
		prefer := func(st *cluster.MemberStatus) float64 {
			if st.Member.ID == newID {
				return 1e6
			}
			return 0
		}
		m, err := MoveLeader(ctx, c, snap, MoveOptions{Not: map[uint64]bool{id: true}, MaxLag: o.Thresholds.FollowerLagWarn, Prefer: prefer, AgreeTimeout: o.AgreeTimeout})
		if err != nil {
			return "", err
		}
		return "leadership moved to " + m.To.Label(), nil
	case StepStopOld:
		return stopOld(ctx, c, o, j, note)
	case StepRemove:
		ms, err := c.Members(ctx)
		if err != nil {
			return "", err
		}
		if _, err := Resolve(ms, j.Old); err != nil {
			return label(j.OldName, j.Old) + " was removed already", nil
		}
		if _, err := Remove(ctx, c, j.Old, RemoveOptions{Thresholds: o.Thresholds, AgreeTimeout: o.AgreeTimeout, Retry: o.Retry, Judged: fresh}); err != nil {
			return "", err
		}
		return label(j.OldName, j.Old) + " removed", nil
	case StepVerify:
		ms, err := c.Members(ctx)
		if err != nil && len(j.NewClientURLs) > 0 {
			// Every endpoint given may have been OLD's (a one-member
			// cluster, or only OLD's URL given): NEW answers for the cluster now.
			cfg := *c.Config
			cfg.Endpoints = j.NewClientURLs
			nc, oerr := cluster.Open(&cfg, c.Log)
			if oerr != nil {
				return "", oerr
			}
			defer nc.Close()
			c = nc
			ms, err = c.Members(ctx)
		}
		if err != nil {
			return "", err
		}
		if err := Judge(ctx, c, ms, health.PromoteLearner, o.Thresholds).Err("replace: final gate"); err != nil {
			return "", err
		}
		hc, err := health.CompareHashes(ctx, c, ms.Voters())
		if err != nil {
			return "", fault.Mark(fmt.Errorf("replace: HashKV: %w", err), fault.Failed)
		}
		for _, mh := range hc.Hashes {
			if mh.Err != nil {
				return "", fault.Mark(fmt.Errorf("replace: HashKV on %s: %w", mh.Member.Label(), mh.Err), fault.Failed)
			}
		}
		if mm := hc.Mismatches(); len(mm) > 0 {
			return "", fault.New(fault.Failed, "replace: voters' hashes differ: "+strings.Join(mm, "; "))
		}
		return fmt.Sprintf("every voter healthy; %d voters have the same hash at revision %d", len(ms.Voters()), hc.Revision), nil
	}
	return "", fmt.Errorf("replace: unknown step %q", s)
}

func parseID(s string) (uint64, error) {
	var id uint64
	_, err := fmt.Sscanf(s, "%x", &id)
	return id, err
}

// stopOld waits (up to o.Wait) until the operator has stopped OLD: it no
// longer answers Status (see silence).
func stopOld(ctx context.Context, c *cluster.Cluster, o ReplaceOptions, j *Journal, note func(string, string)) (string, error) {
	oldLabel := label(j.OldName, j.Old)
	if o.KeepOldRunning {
		return oldLabel + " left running: it stops itself once removed", nil
	}
	ms, err := c.Members(ctx)
	if err != nil {
		return "", err
	}
	id, _ := parseID(j.Old)
	m, ok := ms.Get(id)
	if !ok {
		return oldLabel + " was removed already", nil
	}
	if len(ms.Voters()) <= 2 {
		return oldLabel + " left running: with two voters, stopping it would lose quorum; it stops itself once removed", nil
	}
	if st := c.ProbeMember(ctx, m, cluster.ProbeOptions{SkipMetrics: true}); !st.OK() {
		return oldLabel + " does not answer already", nil
	}
	// Stopping OLD takes a voter offline: the rest must keep quorum with a
	// voter to spare, as for a defragmentation.
	if err := Judge(ctx, c, ms, health.TakeVoterOffline, o.Thresholds).Err("replace: stop " + oldLabel); err != nil {
		return "", err
	}
	note(StepStopOld, fmt.Sprintf("stop %s now (on its node: move etcd's static-pod manifest out of the manifest directory, or stop its service); waiting up to %s until it stops answering", oldLabel, o.Wait))
	if err := j.waiting("stop " + oldLabel); err != nil {
		return "", err
	}
	deadline := time.Now().Add(o.Wait)
	var silent silence
	for {
		at := time.Now()
		st := c.ProbeMember(ctx, m, cluster.ProbeOptions{SkipMetrics: true})
		if silent.saw(at, st.OK()) {
			return oldLabel + " stopped", nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", fault.New(fault.Refused, fmt.Sprintf("replace: %s still answers after %s: stop it, then run the same command again (or pass --keep-old-running)", oldLabel, o.Wait))
		}
		t := time.NewTimer(stopPoll)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// How OLD is judged stopped: polled every stopPoll, it has not answered
// for stopSilence and at least stopProbes probes in a row. One failed
// probe could be a blip of a member under load; a stopping etcd closes its
// client listener early in its shutdown, and from then on every probe
// fails at once (connection refused).
const (
	stopPoll    = 100 * time.Millisecond
	stopSilence = 300 * time.Millisecond
	stopProbes  = 2
)

// silence counts OLD's failed probes since it last answered.
type silence struct {
	since  time.Time // when the first failed probe of the run began
	probes int
}

// saw records one probe begun at at; it says whether OLD counts as stopped.
func (s *silence) saw(at time.Time, answered bool) bool {
	if answered {
		*s = silence{}
		return false
	}
	if s.probes == 0 {
		s.since = at
	}
	s.probes++
	return s.probes >= stopProbes && time.Since(s.since) >= stopSilence
}
