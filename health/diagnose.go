package health

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// Options for one doctor run.
type Options struct {
	Preset     string
	Thresholds Thresholds
	// Window separates the two samples that raft progress and metric deltas
	// are computed from.
	Window time.Duration
	// Consistency compares HashKV of every voter at one revision.
	Consistency bool
	// Connection is how the advice's commands reach this cluster ("--endpoints ...").
	Connection string
}

// diagnosis carries one run's state through the ordered checks.
type diagnosis struct {
	c    *cluster.Cluster
	o    Options
	ms   *cluster.Membership
	out  []Finding
	mu   sync.Mutex
	skip map[uint64]error // members whose checks are unknown, and why
}

func (d *diagnosis) add(f Finding) {
	d.mu.Lock()
	d.out = append(d.out, f)
	d.mu.Unlock()
}

func (d *diagnosis) member(m cluster.Member, f Finding) Finding {
	f.Member, f.MemberName = m.IDString(), m.Name
	return f
}

// Diagnose runs the checklist, cheapest and most local first. It changes
// nothing. Every step is bounded by the cluster's --command-timeout; a hung
// member makes its own checks "unknown" and costs one timeout, not one per check.
func Diagnose(ctx context.Context, c *cluster.Cluster, o Options) *Report {
	start := time.Now()
	r := &Report{Started: start.UTC(), Preset: o.Preset}
	d := &diagnosis{c: c, o: o, skip: map[uint64]error{}}
	defer func() {
		r.Findings = d.out
		if r.Findings == nil {
			r.Findings = []Finding{}
		}
		r.Severity = Worst(r.Findings)
		r.TookSeconds = time.Since(start).Seconds()
	}()

	// 1. members
	ms, err := c.Members(ctx)
	if err != nil {
		d.add(Finding{ID: "members.list", Severity: Unknown, Observed: err.Error(),
			Explanation: "no endpoint answered the member list, so nothing else can be checked",
			Advice:      "check that etcd runs and the endpoints and certificates are right: " + d.cmd("status", "-v")})
		return r
	}
	d.ms = ms
	r.ClusterID = cluster.FormatID(ms.ClusterID)
	d.checkMembers()

	// 2-5: Status of every member, a read per voter and the alarm list, in parallel.
	var snap1 *cluster.Snapshot
	var reads map[uint64]readResult
	var alarms alarmListResult
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); snap1 = c.Probe(ctx, ms, cluster.ProbeOptions{}) }()
	go func() { defer wg.Done(); reads = d.readEach(ctx) }()
	go func() { defer wg.Done(); alarms = d.alarmList(ctx) }()
	wg.Wait()

	d.checkStatus(snap1)
	d.checkQuorum(snap1)
	d.checkAlarms(snap1, alarms)
	d.checkReads(reads)
	d.checkSpace(snap1)

	// 7-8: a second sample, Window later, of the members that answered.
	select {
	case <-time.After(o.Window):
	case <-ctx.Done():
		d.add(Finding{ID: "raft.progress", Severity: Unknown, Observed: "interrupted", Explanation: "the run was interrupted before the second sample"})
		return r
	}
	snap2 := d.probeAgain(ctx, snap1)
	d.checkRaft(snap1, snap2)
	d.checkMetrics(snap1, snap2)

	// 9. consistency, on request: it reads every voter's whole keyspace hash.
	if o.Consistency {
		d.checkConsistency(ctx, snap2)
	}
	// 10. versions and settings.
	d.checkVersions(snap1)
	return r
}

// probeAgain samples only the members that answered the first time: a hung
// member already cost one timeout and its checks are unknown.
func (d *diagnosis) probeAgain(ctx context.Context, snap1 *cluster.Snapshot) *cluster.Snapshot {
	snap2 := &cluster.Snapshot{Membership: d.ms, Members: make([]*cluster.MemberStatus, len(snap1.Members)), At: time.Now()}
	var wg sync.WaitGroup
	for i, st := range snap1.Members {
		if !st.OK() {
			snap2.Members[i] = st
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			snap2.Members[i] = d.c.ProbeMember(ctx, st.Member, cluster.ProbeOptions{})
		}()
	}
	wg.Wait()
	return snap2
}

// unknownFor reports the member's check as unknown when the member did not answer.
func (d *diagnosis) unknownFor(id string, st *cluster.MemberStatus, what string) bool {
	if st.OK() {
		return false
	}
	d.add(d.member(st.Member, Finding{ID: id, Severity: Unknown, Observed: "n/a",
		Explanation: what + " cannot be checked: the member did not answer (" + errString(st.Err) + ")"}))
	return true
}

// cmd builds an etcdmedic command line that reaches this cluster the way this
// run did, for advice that can be pasted as is.
func (d *diagnosis) cmd(sub string, args ...string) string {
	parts := []string{"etcdmedic", sub}
	if d.o.Connection != "" {
		parts = append(parts, d.o.Connection)
	}
	return strings.Join(append(parts, args...), " ")
}

func errString(err error) string {
	if err == nil {
		return "no answer"
	}
	return err.Error()
}

func ms(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.0fms", float64(d)/1e6)
	}
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
