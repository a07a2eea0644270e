// Package defrag implements `etcdmedic defrag`: rolling defragmentation.
package defrag

import (
	"context"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/defrag"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	"github.com/etcdmedic/etcdmedic/internal/step"
)

type Options struct {
	IO          *iostreams.IOStreams
	OpenCluster func() (*cluster.Cluster, error)
	Format      func() output.Format

	RuleSource  string
	RulePreset  string
	MetricsFile string
	// Yes confirms the downtime --allow-downtime asks about.
	Yes bool
	Run defrag.Options
}

// NewDefragOptions holds the defaults the flags show: every voter, the
// leader moved away and last, the lock held, no compaction, NOSPACE disarmed
// below 80 % of the quota, hashes compared after the run.
func NewDefragOptions() *Options {
	return &Options{Run: defrag.Options{
		MoveLeader:           true,
		CompactKeepRevisions: 10000,
		Lock:                 true,
		LockKey:              defrag.DefaultLockKey,
		LockTTL:              60,
		MemberTimeout:        15 * time.Minute,
		RecoveryTimeout:      2 * time.Minute,
		MaxApplyLag:          1000,
		DisarmNospace:        true,
		DisarmThreshold:      0.8,
		VerifyHash:           true,
		SlowDiskFsyncP99:     500 * time.Millisecond,
	}}
}

func NewCmdDefrag(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := NewDefragOptions()
	opts.IO, opts.OpenCluster, opts.Format = f.IOStreams, f.OpenCluster, f.Format
	cmd := &cobra.Command{
		Use:   "defrag",
		Short: "Defragment voters one at a time, re-checking quorum before each, leader last",
		Long: `Defragment the cluster's voters one member at a time. A defragmenting member blocks
every read and write for seconds per hundred MB, so before EVERY member the gate is
checked again on fresh status: every voter answers and serves a linearizable read, they
agree on one leader, no alarm other than NOSPACE is raised, every voter has applied close
to the leader's commit index, and quorum holds with one voter fewer. A failed gate stops
the run: nothing more is defragmented (exit 4 if nothing was yet, 2 otherwise).

Order: learners are skipped (and reported); followers first, most reclaimable first; the
leader last, after leadership was moved to a healthy, caught-up, already defragmented
voter and every voter agrees on the new leader (--move-leader, on by default). After
each member the run waits until it serves linearizable reads and has caught up.

--rule decides per member, on its fresh Status just before its turn. Variables (the
names and meaning of the etcd-defrag tool's, so its rules carry over): dbSize,
dbSizeInUse, dbSizeFree, dbQuota, dbQuotaUsage, plus fragmentation (free share of the
file) and isLeader. No rule means every voter. Presets: --rule-preset mixin (the upstream
alert: in use < 50 % and > 100 MiB), openshift (≥ 45 % fragmented and ≥ 100 MiB).
See docs/defrag-rules.md for choosing one.

--compact compacts once before the first member, keeping --compact-keep-revisions. It is
off by default: under Kubernetes the apiserver compacts on its own, and compacting away
recent history forces every watcher to relist — the storm that keeps knocking a
recovering control plane over.

After the run, NOSPACE alarms (never CORRUPT) are disarmed when every member is below
quota × --disarm-threshold, and every voter's HashKV is compared at one revision (a
mismatch is exit 2).

For cron: a cluster-wide lock (an etcd lease-backed mutex at --lock-key) keeps two
nodes' jobs from overlapping — a held lock exits 4 naming the holder; -o json writes
one JSON line per step; --metrics-file writes a Prometheus textfile. SIGINT/SIGTERM:
the running member is finished (a defragmentation cannot be cancelled on the server),
no other is started, the summary is printed, exit 2.

A cluster of one or two voters has no spare: while any member defragments, the cluster
serves nothing. The gate refuses such a cluster unless --allow-downtime is given; then
the plan shows the predicted stall, and the run asks for confirmation (--yes, or "y" on
a terminal) before the first member. The alternative is offline: stop etcd and run
'etcdmedic breakglass defrag-offline --data-dir DIR' on the member's node (it backs the
file up first).

Exit codes: 0 done, or nothing to do (rule false everywhere, --dry-run); 2 a member
failed or the run stopped partway; 3 the cluster could not be read; 4 refused by a gate
or the lock before anything changed; 64 usage (an invalid rule).`,
		Example: `  # see the plan first: reasons, bytes to reclaim, predicted stall per member
  etcdmedic defrag --rule 'fragmentation >= 0.5' --dry-run

  # the upstream alert's threshold, as a nightly job with machine-readable output
  etcdmedic defrag --rule-preset mixin -o json --metrics-file /var/lib/node_exporter/textfile/etcdmedic_defrag.prom

  # etcd-defrag's README rule works unchanged
  etcdmedic defrag --rule 'dbQuotaUsage > 0.8 || dbSizeFree > 200*1024*1024'

  # NOSPACE recovery: compact, defragment every member, disarm
  etcdmedic defrag --compact --rule 'true'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	ro := &opts.Run
	fl.StringVar(&opts.RuleSource, "rule", opts.RuleSource, "expression deciding per member whether to defragment it (default: every voter)")
	fl.StringVar(&opts.RulePreset, "rule-preset", opts.RulePreset, "a well-known rule: "+strings.Join(defrag.RulePresetNames(), ", "))
	fl.BoolVar(&ro.DryRun, "dry-run", ro.DryRun, "print the plan and change nothing")
	fl.BoolVar(&ro.MoveLeader, "move-leader", ro.MoveLeader, "move leadership away before defragmenting the leader")
	fl.BoolVar(&ro.Compact, "compact", ro.Compact, "compact once before the first member (see above: off by default under Kubernetes)")
	fl.Int64Var(&ro.CompactKeepRevisions, "compact-keep-revisions", ro.CompactKeepRevisions, "with --compact: recent revisions to keep")
	fl.BoolVar(&ro.Lock, "lock", ro.Lock, "hold the cluster-wide lock for the run")
	fl.StringVar(&ro.LockKey, "lock-key", ro.LockKey, "etcd key prefix of the cluster-wide lock")
	fl.IntVar(&ro.LockTTL, "lock-ttl", ro.LockTTL, "seconds a crashed run keeps holding the lock")
	fl.DurationVar(&ro.MemberTimeout, "member-timeout", ro.MemberTimeout, "time one member's defragmentation may take (large databases take minutes)")
	fl.DurationVar(&ro.RecoveryTimeout, "recovery-timeout", ro.RecoveryTimeout, "time a member has to serve again and catch up after its defragmentation")
	fl.DurationVar(&ro.WaitBetween, "wait-between", ro.WaitBetween, "pause between members")
	fl.Uint64Var(&ro.MaxApplyLag, "max-apply-lag", ro.MaxApplyLag, "gate: how far a voter's applied index may trail the leader's commit index")
	fl.BoolVar(&ro.DisarmNospace, "disarm-nospace", ro.DisarmNospace, "after the run, disarm NOSPACE alarms when every member is below the threshold")
	fl.Float64Var(&ro.DisarmThreshold, "disarm-threshold", ro.DisarmThreshold, "quota share every member must be below for NOSPACE to be disarmed")
	fl.BoolVar(&ro.VerifyHash, "verify-hash", ro.VerifyHash, "after the run, compare every voter's HashKV at one revision")
	fl.BoolVar(&ro.RefuseSlowDisk, "refuse-slow-disk", ro.RefuseSlowDisk, "gate: refuse when a voter's WAL fsync p99 is already critical")
	fl.DurationVar(&ro.SlowDiskFsyncP99, "slow-disk-fsync-p99", ro.SlowDiskFsyncP99, "with --refuse-slow-disk: the critical p99")
	fl.StringVar(&opts.MetricsFile, "metrics-file", opts.MetricsFile, "write a Prometheus textfile with the run's outcome (atomically)")
	fl.BoolVar(&ro.AllowDowntime, "allow-downtime", ro.AllowDowntime, "defragment a cluster with no spare voter (one or two voters): it stops serving while each member defragments")
	fl.BoolVarP(&opts.Yes, "yes", "y", opts.Yes, "with --allow-downtime: confirm the downtime without asking")
	cmd.MarkFlagsMutuallyExclusive("rule", "rule-preset")
	_ = cmd.RegisterFlagCompletionFunc("rule-preset", cobra.FixedCompletions(defrag.RulePresetNames(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Validate compiles the rule and checks flags before anything connects.
func (o *Options) Validate() error {
	src := o.RuleSource
	if o.RulePreset != "" {
		p, err := defrag.RulePreset(o.RulePreset)
		if err != nil {
			return cmdutil.UsageError(err)
		}
		src = p
	}
	rule, err := defrag.CompileRule(src)
	if err != nil {
		return cmdutil.UsageError(err)
	}
	o.Run.Rule = rule
	r := o.Run
	return cmdutil.Check(
		cmdutil.DurationIn("member-timeout", r.MemberTimeout, time.Second, 24*time.Hour),
		cmdutil.DurationIn("recovery-timeout", r.RecoveryTimeout, time.Second, 24*time.Hour),
		cmdutil.DurationIn("wait-between", r.WaitBetween, 0, 24*time.Hour),
		// The lease only says how long a crashed run keeps others out: a
		// live run renews it.
		cmdutil.IntIn("lock-ttl", int64(r.LockTTL), 5, 3600),
		cmdutil.NotEmpty("lock-key", r.LockKey),
		cmdutil.IntIn("compact-keep-revisions", r.CompactKeepRevisions, 0, math.MaxInt32),
		cmdutil.IntIn("max-apply-lag", int64(min(r.MaxApplyLag, math.MaxInt64)), 1, 1_000_000),
		cmdutil.RatioOpen("disarm-threshold", r.DisarmThreshold),
		cmdutil.DurationIn("slow-disk-fsync-p99", r.SlowDiskFsyncP99, time.Nanosecond, time.Minute),
		cmdutil.WritableDir("metrics-file", o.MetricsFile),
	)
}

// doctorCommand is the doctor a refusal points to: this run's connection,
// and the thresholds its gate flags changed, so both judge alike.
func (opts *Options) doctorCommand(cfg *cluster.Config) string {
	var judge []string
	for _, o := range opts.Run.JudgeOverrides() {
		judge = append(judge, "--set", o)
	}
	return cmdutil.DoctorCommand(cfg, judge...)
}

func Run(ctx context.Context, opts *Options) error {
	c, err := opts.OpenCluster()
	if err != nil {
		return err
	}
	defer c.Close()
	p := &printer{io: opts.IO, format: opts.Format(), doctor: opts.doctorCommand(c.Config)}
	if opts.Run.Rule != nil {
		p.rule = opts.Run.Rule.Source
	}
	ro := opts.Run
	prev := ro.OnEvent
	ro.OnEvent = func(e defrag.Event) {
		if e.Summary != nil {
			e.Summary.ExitCode = cmdutil.ExitCode(e.Summary.Fault)
		}
		p.event(e)
		if prev != nil {
			prev(e)
		}
	}
	ro.ConfirmDowntime = func([]defrag.PlanEntry) error {
		p.stopProgress()
		return step.Confirm(step.Options{IO: opts.IO, Format: opts.Format(), Yes: opts.Yes}, "The cluster will stop serving while each member defragments (see the plan). Go ahead?")
	}
	sum := defrag.Run(ctx, c, ro)
	p.stopProgress()
	if opts.MetricsFile != "" && !ro.DryRun {
		if err := defrag.WriteTextfile(opts.MetricsFile, sum); err != nil {
			return fault.Mark(err, fault.Failed)
		}
	}
	if sum.DryRun && sum.Fault != nil {
		// A dry run is the pre-flight check a cron wrapper runs: the gate's
		// reason goes to stderr (Error: ...) in table mode too.
		return sum.Fault
	}
	if sum.Fault != nil {
		return fault.Reported(fault.Kind(sum.Fault))
	}
	return nil
}
