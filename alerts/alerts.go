// Package alerts generates Prometheus alerting rules from health's
// thresholds, so an alert fires where doctor says warn or crit: over etcd's
// own metrics where the upstream mixin has them (WAL fsync, backend commit,
// leader changes, quota) and over the exporter's series for the rest
// (fragmentation, quota ETA, findings, snapshots and defrag jobs).
//
// It is a package of its own, not part of health: health judges and knows
// nothing of Prometheus; this package reads health's thresholds and the
// exporter's series names and writes an artifact for another program.
// Every rule carries its own promtool unit test (Tests), built from the same
// numbers: one series just past the threshold that must fire it, and ones
// just short of it that must not.
package alerts

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/exporter"
	"github.com/etcdmedic/etcdmedic/health"
)

// Options choose the thresholds and what only alerts need.
type Options struct {
	Thresholds health.Thresholds
	Preset     string
	// EtcdSelector picks etcd's own series (the mixin's default).
	EtcdSelector string
	// QuotaETA: warn when the DB reaches its quota within this long.
	QuotaETA time.Duration
	// SnapshotMaxAge: the newest verified snapshot may be this old.
	SnapshotMaxAge time.Duration
	// DefragMaxAge: a scheduled defrag job must have run within this long.
	DefragMaxAge time.Duration
	// Carry are the --preset and --set flags the rules were made with: each
	// runbook's doctor carries them, so it judges where the alert fired.
	Carry []string
}

// Defaults for what health's thresholds do not cover (ours: a daily
// snapshot job and a weekly defrag job, each with a day's slack).
func DefaultOptions() Options {
	return Options{Preset: health.DefaultPreset, EtcdSelector: `job=~".*etcd.*"`, QuotaETA: 24 * time.Hour,
		SnapshotMaxAge: 25 * time.Hour, DefragMaxAge: 8 * 24 * time.Hour}
}

// Rule is one alerting rule and the test that pins it to its threshold.
type Rule struct {
	Alert       string
	Expr        string
	For         time.Duration
	Severity    string // warning or critical
	Summary     string
	Description string
	// Runbook is the etcdmedic command to run when it fires.
	Runbook string
	Test    Test
}

// Test is a rule's unit test: series that fire it and series that do not.
type Test struct {
	Interval time.Duration
	// EvalAt is when the alert is checked, past For.
	EvalAt time.Duration
	Fire   Case
	Quiet  []Case
}

// Case is one set of input series and, for Fire, the labels the alert carries.
type Case struct {
	Name   string
	Series []Series
	Labels map[string]string
}

// Series is one input series in promtool's expanding notation ("0+100x30").
type Series struct {
	Selector string
	Values   string
}

// Group is a named list of rules.
type Group struct {
	Name  string
	Rules []Rule
}

// Generate builds every rule group.
func Generate(o Options) []Group {
	t := o.Thresholds
	sel := o.EtcdSelector
	if sel == "" {
		sel = DefaultOptions().EtcdSelector
	}
	etcd := Group{Name: "etcdmedic-etcd"}
	for _, h := range []struct {
		name, metric, what string
		warn, crit         time.Duration
		key                string
	}{
		{"WALFsync", "etcd_disk_wal_fsync_duration_seconds", "WAL fsync", t.FsyncWarn, t.FsyncCrit, "fsync"},
		{"BackendCommit", "etcd_disk_backend_commit_duration_seconds", "backend commit", t.CommitWarn, t.CommitCrit, "commit"},
	} {
		etcd.Rules = append(etcd.Rules,
			latencyRule("Etcdmedic"+h.name+"Slow", h.metric, h.what, sel, h.warn, t.LatencyMinObservations, "warning", h.key+".warn"),
			latencyRule("Etcdmedic"+h.name+"Critical", h.metric, h.what, sel, h.crit, t.LatencyMinObservations, "critical", h.key+".crit"))
	}
	etcd.Rules = append(etcd.Rules, leaderChanges(sel, t.LeaderChangesWarn),
		quotaRule("EtcdmedicDatabaseQuotaWarning", sel, t.QuotaWarn, "warning", "quota.warn"),
		quotaRule("EtcdmedicDatabaseQuotaCritical", sel, t.QuotaCrit, "critical", "quota.crit"))

	med := Group{Name: "etcdmedic"}
	med.Rules = append(med.Rules, fragmentation(t), quotaETA(o.QuotaETA), critFinding(), warnFinding(), memberDown(), quorumLost(),
		scrapeErrors(), snapshotTooOld(o.SnapshotMaxAge), snapshotFailed(), defragFailed(), defragStale(o.DefragMaxAge))
	groups := []Group{etcd, med}
	if len(o.Carry) > 0 {
		doctor := "etcdmedic doctor " + cluster.ShellJoin(o.Carry)
		for _, g := range groups {
			for i := range g.Rules {
				g.Rules[i].Runbook = strings.ReplaceAll(g.Rules[i].Runbook, "etcdmedic doctor", doctor)
			}
		}
	}
	return groups
}

// num formats a threshold the way PromQL reads it.
func num(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func secs(d time.Duration) string { return num(d.Seconds()) }

// latencyRule: doctor's p99 over the window, judged only from enough
// observations (latency.minObservations), as a 5-minute rate.
func latencyRule(name, metric, what, sel string, threshold time.Duration, minObs uint64, severity, key string) Rule {
	expr := fmt.Sprintf(`histogram_quantile(0.99, sum by (job, instance, le) (rate(%[1]s_bucket{%[2]s}[5m]))) > %[3]s
and on (job, instance)
sum by (job, instance) (increase(%[1]s_count{%[2]s}[5m])) >= %[4]d`, metric, sel, secs(threshold), minObs)
	// Test buckets at half and twice the threshold: every observation in
	// the upper one puts the p99 near 2×, in the lower one at about ½×.
	half, twice := num(threshold.Seconds()/2), num(threshold.Seconds()*2)
	per := minObs/5 + 20 // per minute: comfortably over minObs in 5 minutes
	few := minObs / 10   // under minObs in 5 minutes
	series := func(lo, hi uint64) []Series {
		return []Series{
			{fmt.Sprintf(`%s_bucket{job="etcd",instance="m1",le="%s"}`, metric, half), fmt.Sprintf("0+%dx40", lo)},
			{fmt.Sprintf(`%s_bucket{job="etcd",instance="m1",le="%s"}`, metric, twice), fmt.Sprintf("0+%dx40", hi)},
			{fmt.Sprintf(`%s_bucket{job="etcd",instance="m1",le="+Inf"}`, metric), fmt.Sprintf("0+%dx40", hi)},
			{fmt.Sprintf(`%s_count{job="etcd",instance="m1"}`, metric), fmt.Sprintf("0+%dx40", hi)},
		}
	}
	quiet := []Case{{Name: "p99 about half the threshold", Series: series(per, per)}}
	if minObs > 0 {
		quiet = append(quiet, Case{Name: "slow, but too few observations to judge", Series: series(0, few)})
	}
	return Rule{Alert: name, Expr: expr, For: 10 * time.Minute, Severity: severity,
		Summary:     fmt.Sprintf("etcd %s p99 above %s", what, threshold),
		Description: fmt.Sprintf("The 99th percentile of %s over 5 minutes is above %s (doctor's %s), from at least %d observations.", what, threshold, key, minObs),
		Runbook:     "etcdmedic doctor --window 30s; on a slow disk: etcdmedic doctor --node on that member's machine, and move leadership away: etcdmedic member move-leader",
		Test: Test{Interval: time.Minute, EvalAt: 30 * time.Minute,
			Fire:  Case{Name: "p99 about twice the threshold", Series: series(0, per), Labels: map[string]string{"job": "etcd", "instance": "m1"}},
			Quiet: quiet}}
}

func leaderChanges(sel string, warn uint64) Rule {
	return Rule{Alert: "EtcdmedicLeaderChanges", Severity: "warning",
		Expr:        fmt.Sprintf(`max by (job) (increase(etcd_server_leader_changes_seen_total{%s}[15m])) > %d`, sel, warn),
		Summary:     "etcd leader changed",
		Description: fmt.Sprintf("More than %d leader changes in 15 minutes (doctor's leaderChanges.warn): a slow disk, CPU starvation or a flaky network.", warn),
		Runbook:     "etcdmedic doctor --window 30s",
		Test: Test{Interval: time.Minute, EvalAt: 20 * time.Minute,
			Fire:  Case{Series: []Series{{`etcd_server_leader_changes_seen_total{job="etcd",instance="m1"}`, fmt.Sprintf("1+%dx30", warn+1)}}, Labels: map[string]string{"job": "etcd"}},
			Quiet: []Case{{Name: "no change", Series: []Series{{`etcd_server_leader_changes_seen_total{job="etcd",instance="m1"}`, "1+0x30"}}}}}}
}

// quotaRule: DB size over quota, as doctor's space.quota (≥).
func quotaRule(name, sel string, ratio float64, severity, key string) Rule {
	const quota = 1 << 31
	at := ratio * quota
	series := func(size float64) []Series {
		return []Series{
			{`etcd_mvcc_db_total_size_in_bytes{job="etcd",instance="m1"}`, num(size) + "+0x30"},
			{`etcd_server_quota_backend_bytes{job="etcd",instance="m1"}`, num(quota) + "+0x30"},
		}
	}
	return Rule{Alert: name, Severity: severity, For: 5 * time.Minute,
		Expr: fmt.Sprintf(`max by (job, instance) (etcd_mvcc_db_total_size_in_bytes{%[1]s})
/ max by (job, instance) (etcd_server_quota_backend_bytes{%[1]s} > 0) >= %[2]s`, sel, num(ratio)),
		Summary:     fmt.Sprintf("etcd database at %.0f%% or more of its quota", ratio*100),
		Description: fmt.Sprintf("At the quota etcd raises NOSPACE and rejects every write; doctor's %s is %s.", key, num(ratio)),
		Runbook:     "etcdmedic doctor; reclaim space: etcdmedic defrag --rule 'dbQuotaUsage >= " + num(ratio) + "'; what fills it: etcdmedic inventory",
		Test: Test{Interval: time.Minute, EvalAt: 15 * time.Minute,
			Fire:  Case{Name: "just past the threshold", Series: series(math.Ceil(at) + 1), Labels: map[string]string{"job": "etcd", "instance": "m1"}},
			Quiet: []Case{{Name: "just short of it", Series: series(math.Floor(at) - 1)}}}}
}

func fragmentation(t health.Thresholds) Rule {
	const size = 1 << 30
	series := func(free float64, inUse float64) []Series {
		return []Series{
			{fmt.Sprintf(`%s{job="etcdmedic",member="m1"}`, exporter.DBReclaimable), num(free) + "+0x30"},
			{fmt.Sprintf(`%s{job="etcdmedic",member="m1"}`, exporter.DBSize), num(size) + "+0x30"},
			{fmt.Sprintf(`%s{job="etcdmedic",member="m1"}`, exporter.DBInUse), num(inUse) + "+0x30"},
		}
	}
	free := math.Ceil(t.FragRatio*size) + 1
	minUse := float64(t.FragMinInUse)
	return Rule{Alert: "EtcdmedicDatabaseFragmented", Severity: "warning", For: 10 * time.Minute,
		Expr: fmt.Sprintf(`%s / %s >= %s
and %s >= %d`, exporter.DBReclaimable, exporter.DBSize, num(t.FragRatio), exporter.DBInUse, t.FragMinInUse),
		Summary:     fmt.Sprintf("etcd member's database %.0f%% or more free pages", t.FragRatio*100),
		Description: fmt.Sprintf("Free pages count against the quota; defragmenting gives them back (doctor's frag.ratio %s with frag.minInUse %d bytes).", num(t.FragRatio), t.FragMinInUse),
		Runbook:     fmt.Sprintf("etcdmedic defrag --rule 'fragmentation >= %s' --dry-run, then without --dry-run", num(t.FragRatio)),
		Test: Test{Interval: time.Minute, EvalAt: 20 * time.Minute,
			Fire: Case{Name: "just past the ratio, enough in use", Series: series(free, math.Max(minUse, size-free)), Labels: map[string]string{"job": "etcdmedic", "member": "m1"}},
			Quiet: []Case{
				{Name: "just short of the ratio", Series: series(math.Floor(t.FragRatio*size)-1, math.Max(minUse, size/2))},
				{Name: "fragmented but small", Series: series(free, math.Max(0, minUse-1))},
			}}}
}

func quotaETA(horizon time.Duration) Rule {
	s := func(v float64) []Series {
		return []Series{{fmt.Sprintf(`%s{job="etcdmedic",member="m1"}`, exporter.QuotaETA), num(v) + "+0x30"}}
	}
	return Rule{Alert: "EtcdmedicDatabaseQuotaSoon", Severity: "warning", For: 10 * time.Minute,
		Expr:        fmt.Sprintf(`%s < %s`, exporter.QuotaETA, secs(horizon)),
		Summary:     fmt.Sprintf("etcd database reaches its quota within %s at the growth rate seen", horizon),
		Description: "The exporter's quota ETA: the database is growing towards NOSPACE (the 'quietly bloated again' signal).",
		Runbook:     "etcdmedic inventory (what grows), etcdmedic doctor; reclaim: etcdmedic defrag",
		Test: Test{Interval: time.Minute, EvalAt: 20 * time.Minute,
			Fire:  Case{Series: s(horizon.Seconds() - 1), Labels: map[string]string{"job": "etcdmedic", "member": "m1"}},
			Quiet: []Case{{Name: "later than the horizon", Series: s(horizon.Seconds() + 1)}, {Name: "not growing", Series: s(math.Inf(1))}}}}
}

func finding(check, member, severity string) Series {
	return Series{fmt.Sprintf(`%s{job="etcdmedic",check="%s",member="%s",severity="%s"}`, exporter.Finding, check, member, severity), "1+0x30"}
}

// ownAlert lists the checks whose warnings have an alert of their own.
var ownAlert = []string{"space.fragmentation", "space.quota", "metrics.walFsyncP99", "metrics.backendCommitP99", "metrics.leaderChanges"}

func critFinding() Rule {
	return Rule{Alert: "EtcdmedicCritical", Severity: "critical", For: time.Minute,
		Expr:        fmt.Sprintf(`%s{severity="crit"} == 1`, exporter.Finding),
		Summary:     "doctor has a critical finding",
		Description: "A check doctor judges critical (an alarm, no leader, quorum lost, quota past its critical level, ...); the check label names it.",
		Runbook:     "etcdmedic doctor (the finding's advice names the next command)",
		Test: Test{Interval: time.Minute, EvalAt: 5 * time.Minute,
			Fire:  Case{Series: []Series{finding("alarms.nospace", "m1", "crit")}, Labels: map[string]string{"job": "etcdmedic", "check": "alarms.nospace", "member": "m1", "severity": "critical"}},
			Quiet: []Case{{Name: "a warning only", Series: []Series{finding("raft.followerLag", "m1", "warn")}}}}}
}

func warnFinding() Rule {
	return Rule{Alert: "EtcdmedicWarning", Severity: "warning", For: 15 * time.Minute,
		Expr:        fmt.Sprintf(`%s{severity="warn", check!~"%s"} == 1`, exporter.Finding, strings.Join(ownAlert, "|")),
		Summary:     "doctor has a warning",
		Description: "A check doctor warns about that has no alert of its own (follower lag, apply gap, versions, quorum margin, ...); the check label names it.",
		Runbook:     "etcdmedic doctor",
		Test: Test{Interval: time.Minute, EvalAt: 20 * time.Minute,
			Fire: Case{Series: []Series{finding("raft.followerLag", "m2", "warn")}, Labels: map[string]string{"job": "etcdmedic", "check": "raft.followerLag", "member": "m2", "severity": "warning"}},
			Quiet: []Case{{Name: "a warning with its own alert", Series: []Series{finding("space.fragmentation", "m1", "warn")}},
				{Name: "unknown", Series: []Series{finding("reads.linearizable", "m1", "unknown")}}}}}
}

func memberDown() Rule {
	s := func(v string) []Series {
		return []Series{{fmt.Sprintf(`%s{job="etcdmedic",member="m3"}`, exporter.MemberUp), v}}
	}
	return Rule{Alert: "EtcdmedicMemberDown", Severity: "warning", For: 5 * time.Minute,
		Expr:        fmt.Sprintf(`%s == 0`, exporter.MemberUp),
		Summary:     "etcd member does not answer Status",
		Description: "The member did not answer within --command-timeout: down, hung or unreachable.",
		Runbook:     "etcdmedic status; etcdmedic member list",
		Test: Test{Interval: time.Minute, EvalAt: 10 * time.Minute,
			Fire:  Case{Series: s("0+0x30"), Labels: map[string]string{"job": "etcdmedic", "member": "m3"}},
			Quiet: []Case{{Name: "answers", Series: s("1+0x30")}}}}
}

func quorumLost() Rule {
	s := func(v string) []Series {
		return []Series{{fmt.Sprintf(`%s{job="etcdmedic"}`, exporter.QuorumMargin), v}}
	}
	return Rule{Alert: "EtcdmedicQuorumLost", Severity: "critical", For: time.Minute,
		Expr:        fmt.Sprintf(`%s < 0`, exporter.QuorumMargin),
		Summary:     "etcd quorum lost",
		Description: "Fewer voters answer than a quorum needs: etcd accepts no writes and Kubernetes' control plane stops.",
		Runbook:     "etcdmedic doctor; if members cannot come back: etcdmedic breakglass plan",
		Test: Test{Interval: time.Minute, EvalAt: 5 * time.Minute,
			Fire:  Case{Series: s("-1+0x30"), Labels: map[string]string{"job": "etcdmedic"}},
			Quiet: []Case{{Name: "no margin left, quorum holds", Series: s("0+0x30")}}}}
}

func scrapeErrors() Rule {
	s := func(v string) []Series {
		return []Series{{fmt.Sprintf(`%s{job="etcdmedic"}`, exporter.ScrapeErrors), v}}
	}
	return Rule{Alert: "EtcdmedicChecksFailing", Severity: "warning", For: 10 * time.Minute,
		Expr:        fmt.Sprintf(`increase(%s[10m]) > 0`, exporter.ScrapeErrors),
		Summary:     "etcdmedic exporter cannot run its checks",
		Description: "Runs of the checks fail (no member list, or the deadline passes): its other series are stale or unknown.",
		Runbook:     "etcdmedic status -v (from where the exporter runs)",
		Test: Test{Interval: time.Minute, EvalAt: 25 * time.Minute,
			Fire:  Case{Series: s("0+1x30"), Labels: map[string]string{"job": "etcdmedic"}},
			Quiet: []Case{{Name: "no errors", Series: s("3+0x30")}}}}
}

func snapshotTooOld(maxAge time.Duration) Rule {
	s := func(v float64) []Series {
		return []Series{{fmt.Sprintf(`%s{job="etcdmedic",dir="/backup"}`, exporter.SnapshotAge), num(v) + "+0x30"}}
	}
	return Rule{Alert: "EtcdmedicSnapshotTooOld", Severity: "warning", For: 5 * time.Minute,
		Expr:        fmt.Sprintf(`%s > %s`, exporter.SnapshotAge, secs(maxAge)),
		Summary:     fmt.Sprintf("no verified etcd snapshot younger than %s", maxAge),
		Description: "The newest verified snapshot in the directory is too old (or there is none): a restore would lose that much.",
		Runbook:     "etcdmedic snapshot save DIR; etcdmedic snapshot list DIR",
		Test: Test{Interval: time.Minute, EvalAt: 10 * time.Minute,
			Fire:  Case{Series: s(maxAge.Seconds() + 1), Labels: map[string]string{"job": "etcdmedic", "dir": "/backup"}},
			Quiet: []Case{{Name: "young enough", Series: s(maxAge.Seconds() - 1)}}}}
}

func snapshotFailed() Rule {
	return jobFailed("EtcdmedicSnapshotJobFailed", "etcdmedic_snapshot_success",
		"the last scheduled etcd snapshot failed",
		"etcdmedic snapshot save --metrics-file reported that its last run did not save and verify a snapshot.",
		"etcdmedic snapshot save DIR -v (run it by hand and read the error)")
}

func defragFailed() Rule {
	return jobFailed("EtcdmedicDefragJobFailed", "etcdmedic_defrag_last_success",
		"the last scheduled etcd defragmentation failed or was refused",
		"etcdmedic defrag --metrics-file reported a non-zero exit (etcdmedic_defrag_last_exit_code says which).",
		"etcdmedic defrag --dry-run (shows what the gate refuses and why)")
}

// jobFailed fires on a scheduled job's textfile gauge saying its last run
// did not succeed (node_exporter's textfile collector serves it as job node).
func jobFailed(alert, success, summary, description, runbook string) Rule {
	s := func(v string) []Series { return []Series{{success + `{job="node"}`, v}} }
	return Rule{Alert: alert, Severity: "warning",
		Expr:        success + ` == 0`,
		Summary:     summary,
		Description: description,
		Runbook:     runbook,
		Test: Test{Interval: time.Minute, EvalAt: 5 * time.Minute,
			Fire:  Case{Series: s("0+0x10"), Labels: map[string]string{"job": "node"}},
			Quiet: []Case{{Name: "succeeded", Series: s("1+0x10")}}}}
}

// defragStale: time() in a promtool test starts at 0, so the samples are
// timestamps of runs that are old (0) or recent (the sample's own time).
func defragStale(maxAge time.Duration) Rule {
	iv := maxAge / 8
	n := 12
	s := func(v string) []Series {
		return []Series{{`etcdmedic_defrag_last_run_timestamp_seconds{job="node"}`, v}}
	}
	return Rule{Alert: "EtcdmedicDefragJobStale", Severity: "warning",
		Expr:        fmt.Sprintf(`time() - etcdmedic_defrag_last_run_timestamp_seconds > %s`, secs(maxAge)),
		Summary:     fmt.Sprintf("no etcd defragmentation job ran in %s", maxAge),
		Description: "The scheduled etcdmedic defrag (cron or CronJob) has not written its textfile for too long: it no longer runs.",
		Runbook:     "check the schedule (crontab -l, kubectl get cronjob), then etcdmedic defrag --dry-run",
		Test: Test{Interval: iv, EvalAt: time.Duration(n-2) * iv,
			Fire:  Case{Name: "last run at time 0", Series: s(fmt.Sprintf("0+0x%d", n)), Labels: map[string]string{"job": "node"}},
			Quiet: []Case{{Name: "runs every interval", Series: s(fmt.Sprintf("0+%sx%d", secs(iv), n))}}}}
}
