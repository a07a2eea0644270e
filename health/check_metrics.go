package health

import (
	"fmt"
	"strings"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/humanize"
)

const (
	mWALFsync       = "etcd_disk_wal_fsync_duration_seconds"
	mBackendCommit  = "etcd_disk_backend_commit_duration_seconds"
	mLeaderChanges  = "etcd_server_leader_changes_seen_total"
	mPeerRTT        = "etcd_network_peer_round_trip_time_seconds"
	mProposalsFail  = "etcd_server_proposals_failed_total"
	mProposalsPend  = "etcd_server_proposals_pending"
	mSlowApply      = "etcd_server_slow_apply_total"
	mHeartbeatFails = "etcd_server_heartbeat_send_failures_total"
	mDefragInflight = "etcd_disk_defrag_inflight"
	mFDUsed         = "os_fd_used"
	mFDLimit        = "os_fd_limit"
	mProcessFDs     = "process_open_fds"
	mProcessMaxFDs  = "process_max_fds"
)

// MetricFamilies are the metric families the checks read: a probe judged
// here need parse no other (cluster.ProbeOptions.Families). A check reading
// one not listed panics in tests (cluster.MetricsSample), so the list cannot
// silently fall behind.
func MetricFamilies() []string {
	return []string{mWALFsync, mBackendCommit, mLeaderChanges, mPeerRTT, mProposalsFail, mProposalsPend,
		mSlowApply, mHeartbeatFails, mDefragInflight, mFDUsed, mFDLimit, mProcessFDs, mProcessMaxFDs}
}

// 8. Metrics from two scrapes Window apart: histograms are judged on the
// observations made between the scrapes (what the disk does now, not since
// start), counters on their increase. A metric the member does not export is
// "unknown", never 0.
func (d *judge) checkMetrics(before, after *cluster.Sample) {
	t := d.t
	for i, st := range after.Members {
		m := st.Member
		if d.unknownFor("metrics", st, "metrics") {
			continue
		}
		b := before.Members[i]
		if st.Metrics == nil || b.Metrics == nil {
			err := st.MetricsErr
			if err == nil {
				err = b.MetricsErr
			}
			d.add(d.member(m, Finding{ID: "metrics", Severity: Unknown, Observed: "n/a: " + errString(err),
				Explanation: "the member's /metrics could not be read: disk and peer latency are unknown",
				Advice:      "on kubeadm, metrics listen on the node's loopback (--listen-metrics-urls, port 2381): run the doctor on the member's node"}))
			continue
		}
		bm, am := b.Metrics, st.Metrics

		d.latency(m, bm, am, "metrics.walFsyncP99", mWALFsync, t.FsyncWarn, t.FsyncCrit,
			"WAL fsync is slow: every write waits for it, and heartbeats miss, causing elections",
			"the disk is too slow or shared: move etcd to a dedicated SSD/NVMe with low latency (check with fio, p99 fdatasync < 10ms)")
		d.latency(m, bm, am, "metrics.backendCommitP99", mBackendCommit, t.CommitWarn, t.CommitCrit,
			"backend commits are slow: applies trail commits and reads stall",
			"the disk is slow, or the database is large and fragmented: "+d.cmd("defrag", "--rule 'fragmentation >= 0.5'"))
		d.peerLatency(m, bm, am, "metrics.peerRTTP99", mPeerRTT, t.PeerRTTWarn,
			"messages between members are slow: elections and commit latency follow",
			"check the network between control-plane nodes, and CPU starvation on them")

		d.counter(m, bm, am, "metrics.leaderChanges", mLeaderChanges, t.LeaderChangesWarn, "leader changes",
			"the leader changed during the window", "look for slow disks, CPU starvation or packet loss between members")
		d.counter(m, bm, am, "metrics.proposalsFailed", mProposalsFail, t.ProposalsFailedWarn, "failed proposals",
			"proposals failed: elections or lost quorum", "see the quorum and leader findings above")
		d.counter(m, bm, am, "metrics.slowApplies", mSlowApply, t.SlowAppliesWarn, "slow applies",
			"applies took over 100 ms (etcd's --warning-apply-duration)", "check backend commit latency and expensive range requests")
		d.counter(m, bm, am, "metrics.heartbeatFailures", mHeartbeatFails, t.HeartbeatFailuresWarn, "heartbeat send failures",
			"the leader could not send heartbeats on time (usually a slow disk)", "check WAL fsync latency on the leader")

		if p1, ok1 := bm.Value(mProposalsPend); ok1 {
			p2, _ := am.Value(mProposalsPend)
			f := Finding{ID: "metrics.proposalsPending", Severity: OK, Observed: fmt.Sprintf("%.0f then %.0f", p1, p2), Explanation: "proposals are committed promptly"}
			if p1 > 0 && p2 > 0 {
				f.Severity = Warn
				f.Explanation = "proposals wait in both samples: heavy client load, or the member cannot commit"
				f.Advice = "check quorum, the leader's disk, and client load"
			}
			d.add(d.member(m, f))
		} else {
			d.add(d.member(m, Finding{ID: "metrics.proposalsPending", Severity: Unknown, Observed: "n/a", Explanation: "the member does not export " + mProposalsPend}))
		}

		d.fds(m, am)

	}
}

// A defragmentation in flight, from one sample's /metrics.
func (d *judge) checkDefragInflight(snap *cluster.Sample) {
	for _, st := range snap.Members {
		if !st.OK() || st.Metrics == nil {
			continue
		}
		if v, ok := st.Metrics.Value(mDefragInflight); ok {
			f := Finding{ID: "metrics.defragInflight", Severity: OK, Observed: "no", Explanation: "no defragmentation running"}
			if v > 0 {
				f.Severity, f.Observed, f.Short = Warn, "yes", "defragmenting now"
				f.Explanation = "a defragmentation is running: the member blocks reads and writes until it ends"
				f.Advice = "wait for it to finish before any other maintenance"
			}
			d.add(d.member(st.Member, f))
		}
	}
}

// checkLatencySince judges WAL fsync and backend commit p99 of each member
// since an earlier sample of it, or over its lifetime when before is nil:
// what a gate has, which holds one sample or one per step.
func (d *judge) checkLatencySince(before, after *cluster.Sample) {
	t := d.t
	for _, st := range after.Members {
		if !st.OK() || st.Metrics == nil {
			continue
		}
		var prev *cluster.MetricsSample
		if before != nil {
			for _, b := range before.Members {
				if b.Member.ID == st.Member.ID {
					prev = b.Metrics
				}
			}
			if prev == nil {
				continue // not sampled before: nothing to compare with yet
			}
		}
		d.latency(st.Member, prev, st.Metrics, "metrics.walFsyncP99", mWALFsync, t.FsyncWarn, t.FsyncCrit,
			"WAL fsync is slow: every write waits for it, and heartbeats miss, causing elections",
			"the disk is too slow or shared: move etcd to a dedicated SSD/NVMe with low latency")
		d.latency(st.Member, prev, st.Metrics, "metrics.backendCommitP99", mBackendCommit, t.CommitWarn, t.CommitCrit,
			"backend commits are slow: applies trail commits and reads stall",
			"the disk is slow, or the database is large and fragmented")
	}
}

// latency judges a histogram's p99 over the window between two scrapes, or
// over the member's lifetime when before is nil. crit 0 means warn only. A
// p99 of a handful of observations is their maximum: below
// LatencyMinObservations a p99 over the threshold is "unknown", not a
// warning (an idle cluster would flip between OK and WARN round by round).
func (d *judge) latency(m cluster.Member, before, after *cluster.MetricsSample, id, metric string, warn, crit time.Duration, explain, advice string) {
	f := Finding{ID: id, Threshold: "warn > " + ms(warn)}
	if crit > 0 {
		f.Threshold += ", crit > " + ms(crit)
	}
	minObs := d.t.LatencyMinObservations
	f.Threshold += fmt.Sprintf(", from ≥ %d observations", minObs)
	lifetime := before == nil
	var p, n float64
	var ok, reset bool
	if lifetime {
		p, ok = after.HistogramQuantile(metric, 0.99)
		n, _ = after.HistogramCount(metric)
	} else {
		p, ok, reset = cluster.HistogramQuantileDelta(before, after, metric, 0.99)
		n1, _ := before.HistogramCount(metric)
		n2, _ := after.HistogramCount(metric)
		n = n2 - n1
	}
	what := strings.TrimSuffix(strings.TrimPrefix(id, "metrics."), "P99")
	switch {
	case !after.Has(metric) || (!lifetime && !before.Has(metric)):
		f.Severity, f.Observed, f.Explanation = Unknown, "n/a", "the member does not export "+metric
	case reset:
		f.Severity, f.Observed, f.Explanation = Unknown, "n/a", "the member restarted between the two samples"
	case !ok:
		f.Severity = OK
		f.Observed = "no observations in the window"
		if life, ok := after.HistogramQuantile(metric, 0.99); ok {
			f.Observed += " (lifetime p99 " + humanize.Seconds(life) + ")"
		}
		f.Explanation = "idle during the window: nothing to judge"
	default:
		d := secs(p)
		f.Observed = fmt.Sprintf("p99 %s of %.0f observations", humanize.Seconds(p), n)
		if lifetime {
			f.Observed = fmt.Sprintf("lifetime p99 %s of %.0f observations", humanize.Seconds(p), n)
		}
		level, limit := OK, warn
		switch {
		case crit > 0 && d > crit:
			level, limit = Crit, crit
		case d > warn:
			level = Warn
		}
		switch {
		case level == OK:
			f.Severity, f.Explanation = OK, "within the recommendation"
		case n < float64(minObs):
			f.Severity = Unknown
			f.Short = fmt.Sprintf("%s p99 %s of only %.0f observations", what, humanize.Seconds(p), n)
			f.Explanation = fmt.Sprintf("over the threshold, but %.0f observations are too few for a p99 (need %d): run again with a longer --window, or under load", n, minObs)
		default:
			f.Severity, f.Explanation, f.Advice = level, explain, advice
			f.Short = fmt.Sprintf("%s p99 %s > %s", what, humanize.Seconds(p), ms(limit))
		}
	}
	d.add(d.member(m, f))
}

// peerLatency is latency for peer round trips, which etcd measures only once
// its prober has run (seconds after start) and never in a one-member cluster:
// absence there means "not measured yet", not "not exported".
func (d *judge) peerLatency(m cluster.Member, before, after *cluster.MetricsSample, id, metric string, warn time.Duration, explain, advice string) {
	if !after.Has(metric) {
		why := "no round trip measured yet (the peer prober runs every few seconds)"
		if len(d.ms.Members) == 1 {
			why = "a one-member cluster has no peers"
		}
		d.add(d.member(m, Finding{ID: id, Severity: OK, Observed: "n/a", Threshold: "warn > " + ms(warn), Explanation: why}))
		return
	}
	if before != nil && !before.Has(metric) {
		// etcd creates a peer's histogram at its first probe: one born during
		// the window holds only the window's round trips.
		before = nil
	}
	d.latency(m, before, after, id, metric, warn, 0, explain, advice)
}

// counter warns when a failure counter grew during the window.
func (d *judge) counter(m cluster.Member, before, after *cluster.MetricsSample, id, metric string, warn uint64, what, explain, advice string) {
	f := Finding{ID: id, Threshold: fmt.Sprintf("warn > %d in the window", warn)}
	delta, ok := cluster.CounterDelta(before, after, metric)
	switch {
	case !after.Has(metric) || !before.Has(metric):
		f.Severity, f.Observed, f.Explanation = Unknown, "n/a", "the member does not export "+metric
	case !ok:
		f.Severity, f.Observed, f.Explanation = Unknown, "n/a", "the counter went backwards: the member restarted"
	case delta > float64(warn):
		f.Severity, f.Observed, f.Explanation, f.Advice = Warn, fmt.Sprintf("%.0f %s", delta, what), explain, advice
	default:
		f.Severity, f.Observed, f.Explanation = OK, fmt.Sprintf("%.0f %s", delta, what), "none during the window"
		if delta > 0 {
			f.Explanation = "within the threshold during the window"
		}
	}
	d.add(d.member(m, f))
}

// fds compares open file descriptors to the limit (etcd exports both; so does
// the Go process collector).
func (d *judge) fds(m cluster.Member, s *cluster.MetricsSample) {
	t := d.t
	used, ok1 := s.Value(mFDUsed)
	limit, ok2 := s.Value(mFDLimit)
	if !ok1 || !ok2 {
		used, ok1 = s.Value(mProcessFDs)
		limit, ok2 = s.Value(mProcessMaxFDs)
	}
	f := Finding{ID: "metrics.fileDescriptors", Threshold: fmt.Sprintf("warn ≥ %s, crit ≥ %s", humanize.Percent(t.FDWarn), humanize.Percent(t.FDCrit))}
	if !ok1 || !ok2 || limit <= 0 {
		f.Severity, f.Observed, f.Explanation = Unknown, "n/a", "the member exports no file-descriptor metrics"
		d.add(d.member(m, f))
		return
	}
	r := used / limit
	f.Observed = fmt.Sprintf("%.0f of %.0f (%s)", used, limit, humanize.Percent(r))
	switch {
	case r >= t.FDCrit:
		f.Severity = Crit
	case r >= t.FDWarn:
		f.Severity = Warn
	default:
		f.Severity, f.Explanation = OK, "plenty left"
	}
	if f.Severity != OK {
		f.Explanation = "when descriptors run out etcd cannot open WAL files or accept clients"
		f.Advice = "raise the limit (LimitNOFILE) and look for clients leaking connections or watches"
	}
	d.add(d.member(m, f))
}
