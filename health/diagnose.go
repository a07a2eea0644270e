package health

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// Options for one doctor run.
// DefaultWindow is doctor's window between its two samples unless --window
// says otherwise; advice to run doctor again names any other.
const DefaultWindow = 5 * time.Second

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
	// Rerun are this run's own doctor flags (--preset, --set, --consistency),
	// for advice that says to run doctor again: the same judge, not the
	// default one.
	Rerun []string
}

// diagnosis carries one doctor run's state through the ordered checks; the
// judging itself is the judge's, shared with status and the gates.
type diagnosis struct {
	*judge
	c *cluster.Cluster
	o Options
}

// Diagnose runs the checklist, cheapest and most local first. It changes
// nothing. Every step is bounded by the cluster's --command-timeout; a hung
// member makes its own checks "unknown" and costs one timeout, not one per check.
func Diagnose(ctx context.Context, c *cluster.Cluster, o Options) *Report {
	start := time.Now()
	r := &Report{Started: start.UTC(), Preset: o.Preset}
	d := &diagnosis{judge: &judge{t: o.Thresholds, window: o.Window, connection: o.Connection, rerun: o.Rerun}, c: c, o: o}
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

	// 2-5: Status of every member, a read per voter and the alarm list, in
	// parallel.
	sampled := time.Now()
	var snap1 *cluster.Sample
	var reads map[uint64]ReadResult
	var alarms alarmListResult
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); snap1 = c.Probe(ctx, ms, cluster.ProbeOptions{Families: MetricFamilies()}) }()
	go func() { defer wg.Done(); reads = ReadEach(ctx, c, ms) }()
	go func() { defer wg.Done(); alarms = d.alarmList(ctx) }()
	wg.Wait()

	d.firstSample(snap1, reads, alarms)
	r.Sample = snap1

	// 7-8: a second sample of the members that answered, Window after the
	// slowest of them answered the first: a hung member's timeout passes
	// inside the window instead of before it, so it costs the longer of the
	// two, not their sum.
	var answered time.Duration
	for _, st := range snap1.Members {
		if st.OK() {
			answered = max(answered, st.Took)
		}
	}
	window := time.NewTimer(time.Until(sampled.Add(answered + o.Window)))
	defer window.Stop()
	select {
	case <-window.C:
	case <-ctx.Done():
		d.add(Finding{ID: "raft.progress", Severity: Unknown, Observed: "interrupted", Explanation: "the run was interrupted before the second sample"})
		return r
	}
	snap2 := d.probeAgain(ctx, snap1)
	r.Sample = snap2
	d.secondSample(snap1, snap2)

	// 9. consistency, on request: it reads every voter's whole keyspace hash.
	if o.Consistency {
		d.checkConsistency(ctx, snap2)
	}
	// 10. versions and settings.
	d.checkVersions(snap1)
	return r
}

// firstSample judges the first sample with the reads and alarm list made
// beside it: the checks status and the gates run too.
func (d *judge) firstSample(snap *cluster.Sample, reads map[uint64]ReadResult, alarms alarmListResult) {
	d.checkOneCluster()
	d.checkStatus(snap)
	d.checkQuorum(snap)
	d.checkAlarms(snap, alarms)
	d.checkReads(snap, reads)
	d.checkSpace(snap)
}

// secondSample judges what changed between the samples, and how far each
// member trails as of the second.
func (d *judge) secondSample(first, second *cluster.Sample) {
	d.checkRaft(first, second)
	d.checkLag(second)
	d.checkMetrics(first, second)
	d.checkDefragInflight(second)
}

// probeAgain samples only the members that answered the first time: a hung
// member already cost one timeout and its checks are unknown.
func (d *diagnosis) probeAgain(ctx context.Context, snap1 *cluster.Sample) *cluster.Sample {
	snap2 := &cluster.Sample{Membership: d.ms, Members: make([]*cluster.MemberStatus, len(snap1.Members)), At: time.Now()}
	var wg sync.WaitGroup
	for i, st := range snap1.Members {
		if !st.OK() {
			snap2.Members[i] = st
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			snap2.Members[i] = d.c.ProbeMember(ctx, st.Member, cluster.ProbeOptions{Families: MetricFamilies()})
		}()
	}
	wg.Wait()
	return snap2
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
