// Package defrag implements `etcdmedic defrag`: rolling defragmentation.
package defrag

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/defrag"
	"github.com/etcdmedic/etcdmedic/internal/exitcode"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/humanize"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

type Options struct {
	IO          *iostreams.IOStreams
	OpenCluster func() (*cluster.Cluster, error)
	Format      func() output.Format

	RuleSource  string
	RulePreset  string
	MetricsFile string
	Run         defrag.Options
}

func NewCmdDefrag(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, OpenCluster: f.OpenCluster, Format: f.Format}
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
	fl.StringVar(&opts.RuleSource, "rule", "", "expression deciding per member whether to defragment it (default: every voter)")
	fl.StringVar(&opts.RulePreset, "rule-preset", "", "a well-known rule: "+strings.Join(defrag.RulePresetNames(), ", "))
	fl.BoolVar(&ro.DryRun, "dry-run", false, "print the plan and change nothing")
	fl.BoolVar(&ro.MoveLeader, "move-leader", true, "move leadership away before defragmenting the leader")
	fl.BoolVar(&ro.Compact, "compact", false, "compact once before the first member (see above: off by default under Kubernetes)")
	fl.Int64Var(&ro.CompactKeepRevisions, "compact-keep-revisions", 10000, "with --compact: recent revisions to keep")
	fl.BoolVar(&ro.Lock, "lock", true, "hold the cluster-wide lock for the run")
	fl.StringVar(&ro.LockKey, "lock-key", defrag.DefaultLockKey, "etcd key prefix of the cluster-wide lock")
	fl.IntVar(&ro.LockTTL, "lock-ttl", 60, "seconds a crashed run keeps holding the lock")
	fl.DurationVar(&ro.MemberTimeout, "member-timeout", 15*time.Minute, "time one member's defragmentation may take (large databases take minutes)")
	fl.DurationVar(&ro.RecoveryTimeout, "recovery-timeout", 2*time.Minute, "time a member has to serve again and catch up after its defragmentation")
	fl.DurationVar(&ro.WaitBetween, "wait-between", 0, "pause between members")
	fl.Uint64Var(&ro.MaxApplyLag, "max-apply-lag", 1000, "gate: how far a voter's applied index may trail the leader's commit index")
	fl.BoolVar(&ro.DisarmNospace, "disarm-nospace", true, "after the run, disarm NOSPACE alarms when every member is below the threshold")
	fl.Float64Var(&ro.DisarmThreshold, "disarm-threshold", 0.8, "quota share every member must be below for NOSPACE to be disarmed")
	fl.BoolVar(&ro.VerifyHash, "verify-hash", true, "after the run, compare every voter's HashKV at one revision")
	fl.BoolVar(&ro.RefuseSlowDisk, "refuse-slow-disk", false, "gate: refuse when a voter's WAL fsync p99 is already critical")
	fl.DurationVar(&ro.SlowDiskFsyncP99, "slow-disk-fsync-p99", 500*time.Millisecond, "with --refuse-slow-disk: the critical p99")
	fl.StringVar(&opts.MetricsFile, "metrics-file", "", "write a Prometheus textfile with the run's outcome (atomically)")
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
			return &cmdutil.FlagError{Err: err}
		}
		src = p
	}
	rule, err := defrag.CompileRule(src)
	if err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	o.Run.Rule = rule
	r := o.Run
	if r.MemberTimeout <= 0 || r.RecoveryTimeout <= 0 || r.WaitBetween < 0 || r.LockTTL < 5 || r.CompactKeepRevisions < 0 || r.DisarmThreshold <= 0 || r.DisarmThreshold >= 1 {
		return &cmdutil.FlagError{Err: fmt.Errorf("timeouts must be positive, --lock-ttl at least 5, --compact-keep-revisions not negative, --disarm-threshold between 0 and 1")}
	}
	return nil
}

func Run(ctx context.Context, opts *Options) error {
	c, err := opts.OpenCluster()
	if err != nil {
		return err
	}
	defer c.Close()
	p := &printer{io: opts.IO, format: opts.Format()}
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
	sum := defrag.Run(ctx, c, ro)
	p.stopProgress()
	if opts.MetricsFile != "" && !ro.DryRun {
		if err := defrag.WriteTextfile(opts.MetricsFile, sum); err != nil {
			return exitcode.New(exitcode.Critical, err)
		}
	}
	if sum.Fault != nil {
		return fault.Reported(fault.Kind(sum.Fault))
	}
	return nil
}

// printer renders events: JSON lines for machines; for people, one line per
// step, a live elapsed-vs-predicted line per member on a terminal, and a
// summary table.
type printer struct {
	io     *iostreams.IOStreams
	format output.Format
	mu     sync.Mutex
	stop   chan struct{}
	wg     sync.WaitGroup
}

func (p *printer) event(e defrag.Event) {
	if p.format.Machine() {
		p.mu.Lock()
		defer p.mu.Unlock()
		_ = output.WriteJSONLine(p.io.Out, e)
		return
	}
	if e.Event != defrag.EventMemberStart {
		p.stopProgress()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out, pal := p.io.Out, p.io.Palette()
	mark := pal.Good.Render("✓")
	if !e.OK {
		mark = pal.Bad.Render("✗")
	}
	switch e.Event {
	case defrag.EventPlan:
		fmt.Fprintf(out, "%s (%s)\n", pal.Bold.Render("plan"), e.Message)
		t := output.NewTable(out, p.io.IsStdoutTTY(), "ORDER", "MEMBER", "ROLE", "DEFRAG", "DB SIZE", "RECLAIMABLE", "PREDICTED STALL", "REASON")
		for i, pe := range e.Plan {
			t.Row(fmt.Sprint(i+1), pe.MemberName, pe.Role, yesNo(pe.Defragment), humanize.Bytes(pe.DBSize), humanize.Bytes(pe.ReclaimableBytes),
				humanize.Duration(time.Duration(pe.PredictedSeconds*float64(time.Second))), pe.Reason)
		}
		_ = t.Render()
		fmt.Fprintln(out, grpcHealthNote(e.Plan))
	case defrag.EventMemberStart:
		fmt.Fprintf(out, "→ defragmenting %s (%s, predicted %.1fs)\n", e.MemberName, humanize.Bytes(e.DBSizeBefore), e.PredictedSeconds)
		if p.io.IsStderrTTY() {
			p.startProgress(e)
		}
	case defrag.EventMemberDone:
		if e.OK {
			fmt.Fprintf(out, "%s %s: %s → %s in %s (StopGRPCServiceOnDefrag: %s)\n", mark, e.MemberName, humanize.Bytes(e.DBSizeBefore), humanize.Bytes(e.DBSizeAfter),
				humanize.Duration(time.Duration(e.DurationSeconds*float64(time.Second))), e.StopGRPCServiceOnDefrag)
		} else {
			fmt.Fprintf(out, "%s %s: %s\n", mark, e.MemberName, e.Message)
		}
	case defrag.EventSummary:
		s := e.Summary
		if !s.DryRun && len(s.Members) > 0 {
			fmt.Fprintln(out)
			t := output.NewTable(out, p.io.IsStdoutTTY(), "MEMBER", "OUTCOME", "BEFORE", "AFTER", "TOOK", "REASON")
			for _, m := range s.Members {
				t.Row(m.MemberName, m.Outcome, humanize.Bytes(m.DBSizeBefore), humanize.Bytes(m.DBSizeAfter), humanize.Duration(time.Duration(m.DurationSeconds*float64(time.Second))), m.Reason)
			}
			_ = t.Render()
		}
		verdict := "done"
		switch {
		case s.DryRun:
			verdict = "dry run: nothing changed"
		case s.ExitCode != 0:
			verdict = "stopped: " + s.StoppedBy
		case s.Defragmented == 0:
			verdict = "nothing to do"
		}
		fmt.Fprintf(out, "\n%s %s — %d defragmented, %s reclaimed in %s\n", mark, verdict, s.Defragmented, humanize.Bytes(s.ReclaimedBytes), humanize.Duration(time.Duration(s.TookSeconds*float64(time.Second))))
	default:
		name := e.MemberName
		if name != "" {
			name = " " + name
		}
		fmt.Fprintf(out, "%s %s%s: %s\n", mark, e.Event, name, e.Message)
	}
}

// grpcHealthNote says whether clients can route around a defragmenting
// member: only etcd's StopGRPCServiceOnDefrag (3.6+) makes it report
// NOT_SERVING on gRPC health; otherwise every client of that member waits.
func grpcHealthNote(plan []defrag.PlanEntry) string {
	var on, off []string
	for _, p := range plan {
		switch p.StopGRPCServiceOnDefrag {
		case defrag.GRPCHealthOn:
			on = append(on, p.MemberName)
		case defrag.GRPCHealthOff:
			off = append(off, p.MemberName)
		}
	}
	switch {
	case len(on) > 0:
		return "StopGRPCServiceOnDefrag on for " + strings.Join(on, ", ") + " (kubeadm manifest): clients that health-check route around the member while it defragments"
	case len(off) > 0:
		return "StopGRPCServiceOnDefrag off for " + strings.Join(off, ", ") + " (kubeadm manifest): that member's clients wait out its stall; etcd 3.6+ --feature-gates=StopGRPCServiceOnDefrag=true lets health-checking clients route around it"
	}
	return "StopGRPCServiceOnDefrag: unknown (no kubeadm manifest read); each member's is observed on its gRPC health service while it defragments and reported when done"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// startProgress shows elapsed against predicted time on stderr while one member runs.
func (p *printer) startProgress(e defrag.Event) {
	p.stop = make(chan struct{})
	p.wg.Add(1)
	start := time.Now()
	go func(stop chan struct{}) {
		defer p.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				fmt.Fprint(p.io.ErrOut, "\r\x1b[K")
				return
			case <-t.C:
				fmt.Fprintf(p.io.ErrOut, "\r  %s: %.1fs elapsed (predicted %.1fs)", e.MemberName, time.Since(start).Seconds(), e.PredictedSeconds)
			}
		}
	}(p.stop)
}

func (p *printer) stopProgress() {
	p.mu.Lock()
	stop := p.stop
	p.stop = nil
	p.mu.Unlock()
	if stop != nil {
		close(stop)
		p.wg.Wait()
	}
}
