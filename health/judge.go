package health

import (
	"strings"
	"sync"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// judge is the one place findings are made: doctor runs every check, status
// and the gates run the ones a single sample answers, and all of them read
// the same thresholds, so two commands never disagree about one member.
type judge struct {
	ms         *cluster.Membership
	t          Thresholds
	window     time.Duration
	connection string
	rerun      []string // doctor's own flags, for doctorAgain

	mu  sync.Mutex
	out []Finding
}

func (d *judge) add(f Finding) {
	d.mu.Lock()
	d.out = append(d.out, f)
	d.mu.Unlock()
}

func (d *judge) member(m cluster.Member, f Finding) Finding {
	f.Member, f.MemberName = m.IDString(), m.Name
	return f
}

// unknownFor reports the member's check as unknown when the member did not answer.
func (d *judge) unknownFor(id string, st *cluster.MemberStatus, what string) bool {
	if st.OK() {
		return false
	}
	d.add(d.member(st.Member, Finding{ID: id, Severity: Unknown, Observed: "n/a", Short: "n/a",
		Explanation: what + " cannot be checked: the member did not answer (" + errString(st.Err) + ")"}))
	return true
}

// cmd builds an etcdmedic command line that reaches this cluster the way this
// run did, for advice that can be pasted as is.
func (d *judge) cmd(sub string, args ...string) string {
	parts := append([]string{"etcdmedic", sub}, args...)
	if d.connection != "" {
		// Last, as every other next step the tool prints has them.
		parts = append(parts, d.connection)
	}
	return strings.Join(parts, " ")
}

// doctorAgain is this doctor run once more: its thresholds and window too,
// when not the default (outside doctor there are none).
func (d *judge) doctorAgain() string {
	args := cluster.ShellJoin(d.rerun)
	if d.window > 0 && d.window != DefaultWindow {
		args = strings.TrimSpace(args + " --window " + d.window.String())
	}
	if args == "" {
		return d.cmd("doctor")
	}
	return d.cmd("doctor", args)
}

// doctorNode is doctor --node with this run's thresholds and the given flags.
func (d *judge) doctorNode(args ...string) string {
	parts := []string{"--node"}
	if len(d.rerun) > 0 {
		parts = append(parts, cluster.ShellJoin(d.rerun))
	}
	return d.cmd("doctor", append(parts, args...)...)
}

// replaceCmd puts a new member in m's place; the new member's name and peer
// URL are the operator's to choose, quoted so the line pastes whole once
// they are filled in.
func (d *judge) replaceCmd(m cluster.Member) string {
	old := m.Name
	if old == "" {
		old = m.IDString()
	}
	return d.cmd("member replace", cluster.ShellJoin([]string{old}), "--name", "'<new-name>'", "--peer-urls", "'<new-peer-url>'")
}

// SampleOptions choose what Assess judges.
type SampleOptions struct {
	Thresholds Thresholds
	// Connection is how advice reaches this cluster ("--endpoints ...").
	Connection string
	// Reads are linearizable (voters) or serializable (learners) reads made
	// with the sample (ReadEach); nil leaves the reads unjudged.
	Reads map[uint64]ReadResult
	// LifetimeLatency judges the members' WAL fsync and backend commit p99
	// over their lifetime, when no second sample is at hand (a gate).
	LifetimeLatency bool
	// Previous, when set, is an earlier sample of the same members: WAL fsync
	// and backend commit p99 are judged on what happened in between.
	Previous *cluster.Sample
}

// Assess judges one sample of every member with the checks that need nothing
// more: each member's answer and cluster ID, quorum and leader, the alarms
// in Status, space, how far each member trails the leader, a defragmentation
// in flight, and (on request) reads and lifetime latency. Status verdicts and
// the gates are built from these findings; doctor runs the same checks.
func Assess(snap *cluster.Sample, o SampleOptions) []Finding {
	d := &judge{ms: snap.Membership, t: o.Thresholds, connection: o.Connection}
	d.checkOneCluster()
	d.checkStatus(snap)
	d.checkQuorum(snap)
	d.checkAlarms(snap, alarmListResult{})
	if o.Reads != nil {
		d.checkReads(snap, o.Reads)
	}
	d.checkSpace(snap)
	d.checkLag(snap)
	d.checkDefragInflight(snap)
	switch {
	case o.Previous != nil:
		d.checkLatencySince(o.Previous, snap)
	case o.LifetimeLatency:
		d.checkLatencySince(nil, snap)
	}
	if d.out == nil {
		return []Finding{}
	}
	return d.out
}
