package defrag

import (
	"context"
	"fmt"
	"sync"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/health"
)

const metricDefragInflight = "etcd_disk_defrag_inflight"

// gateResult is a fresh look at every voter, and the first condition that
// forbids taking one of them offline now ("" when all hold).
type gateResult struct {
	ms       *cluster.Membership
	snap     *cluster.Sample
	leader   *cluster.MemberStatus
	findings []health.Finding
	failure  string
	// downtime: the next member's defragmentation stops the cluster serving
	// (allowed by --allow-downtime).
	downtime bool
}

// gate re-reads every member and asks health whether one voter may go
// offline now (health.TakeVoterOffline: every voter answers and serves a
// linearizable read, one agreed leader, no alarm but NOSPACE, every voter
// caught up, quorum holds with one voter fewer; on request no disk already
// critical). The findings are the ones status and doctor show, judged by the
// same thresholds. Run before every member.
func (r *runner) gate(ctx context.Context) gateResult {
	g := gateResult{}
	ms, err := r.c.Members(ctx)
	if err != nil {
		g.failure = "member list: " + err.Error()
		return g
	}
	g.ms = ms
	// Status, /metrics and one read per member in parallel: each is bounded
	// by --command-timeout, and a gate runs before every member.
	var reads map[uint64]health.ReadResult
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); reads = health.ReadEach(ctx, r.c, ms) }()
	g.snap = r.c.Probe(ctx, ms, cluster.ProbeOptions{SkipMetrics: !r.o.RefuseSlowDisk && !r.checkInflight, Families: health.MetricFamilies()})
	wg.Wait()
	g.findings = health.Assess(g.snap, health.SampleOptions{Thresholds: r.thresholds(), Reads: reads, LifetimeLatency: r.o.RefuseSlowDisk})
	for _, st := range g.snap.Members {
		if !st.Member.IsLearner && st.IsLeader() {
			g.leader = st
		}
	}
	gate := health.TakeVoterOffline
	if r.o.AllowDowntime {
		gate = gate.AllowingDowntime()
	}
	if refusal := gate.Check(g.snap, g.findings); refusal != nil {
		g.failure = refusal.String()
		if refusal.NoSpareVoter && refusal.Findings == nil {
			g.failure += ": a cluster of " + fmt.Sprint(len(ms.Voters())) + " voter(s) cannot be defragmented without downtime — every request stalls while a member copies its database. " +
				"Run with --allow-downtime (the plan shows how long), or stop etcd on the member's node (move its static-pod manifest out) and defragment it offline there: etcdmedic breakglass defrag-offline (the data dir is the one etcd's manifest names on that node; the file is backed up first)"
		}
		return g
	}
	// Counted once the gate holds: nothing is taken offline without it.
	g.downtime = r.o.AllowDowntime && health.TakeVoterOffline.Check(g.snap, g.findings) != nil
	if g.leader == nil {
		g.failure = "the voters do not agree on one leader"
	}
	return g
}

// thresholds are the run's health thresholds with the gate's own flags
// applied: how far a voter may trail the leader, and the critical fsync p99.
func (r *runner) thresholds() health.Thresholds {
	t := r.o.Thresholds
	if t == (health.Thresholds{}) {
		t, _ = health.Preset(health.DefaultPreset)
	}
	if r.o.MaxApplyLag > 0 {
		t.FollowerLagWarn = r.o.MaxApplyLag
	}
	if r.o.SlowDiskFsyncP99 > 0 {
		t.FsyncCrit = r.o.SlowDiskFsyncP99
	}
	return t
}

// JudgeOverrides are the thresholds the gate flags move away from the
// default preset, as doctor's --set values: the doctor a refusal points to
// then judges the members as the gate did.
func (o Options) JudgeOverrides() []string {
	def, _ := health.Preset(health.DefaultPreset)
	t := (&runner{o: o}).thresholds()
	var out []string
	if t.FollowerLagWarn != def.FollowerLagWarn {
		out = append(out, fmt.Sprintf("followerLag.warn=%d", t.FollowerLagWarn))
	}
	if t.FsyncCrit != def.FsyncCrit {
		out = append(out, "fsync.crit="+t.FsyncCrit.String())
	}
	return out
}
