// Package doctor implements `etcdmedic doctor`: the on-call checklist.
package doctor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

type Options struct {
	IO            *iostreams.IOStreams
	OpenCluster   func() (*cluster.Cluster, error)
	ClusterConfig func() (*cluster.Config, error)
	Getenv        func(string) string
	Format        func() output.Format

	Preset      string
	Overrides   []string
	Window      time.Duration
	Consistency bool
	Watch       time.Duration
	All         bool
	// MetricsFile, Node, DataDir and Global: node.go and metrics.go.
	MetricsFile string
	Node        bool
	DataDir     string
	Global      *cmdutil.GlobalOptions

	thresholds health.Thresholds
}

// NewDoctorOptions holds the defaults: upstream thresholds, a 5 s window,
// one run, only what needs attention.
func NewDoctorOptions() *Options {
	return &Options{Preset: "upstream", Window: health.DefaultWindow}
}

func NewCmdDoctor(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := NewDoctorOptions()
	opts.IO, opts.OpenCluster, opts.ClusterConfig, opts.Getenv, opts.Format, opts.Global = f.IOStreams, f.OpenCluster, f.ClusterConfig, f.Getenv, f.Format, f.Global
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Diagnose the cluster: an ordered checklist of findings, each with the command to run next",
		Long: `Run the on-call checklist, cheapest and most local first, and change nothing:

   1. member list (learners and unstarted members marked)
   2. Status of every member, in parallel (works without quorum); wrong cluster ID
   3. quorum margin, and whether every member names the same leader and term
   4. alarms (NOSPACE, CORRUPT), from every member's Status and the alarm list
   5. a linearizable read per voter (serializable for learners), with its latency
   6. space: DB size against the quota, fragmentation and reclaimable bytes, quota size
   7. raft progress from a second sample --window later: elections, commit→apply gap,
      follower lag
   8. metrics from two /metrics scrapes --window apart: p99 WAL fsync and backend commit
      over the window (not since start), peer round trip, leader changes, failed and
      pending proposals, slow applies, heartbeat failures, file descriptors, defrag in
      progress. A metric that cannot be read is "unknown", never 0.
   9. with --consistency: HashKV of every voter at one revision
  10. versions (mixed, known data-inconsistency releases) and settings

Every finding has an id, a severity (ok, warn, crit, unknown), the member, what was
observed against which threshold, a one-line explanation and the command to run next.
Thresholds come from the upstream etcd alerting mixin and etcd's documentation
(--preset upstream, the default) or OpenShift's (--preset openshift); change one with
--set, e.g. --set fsync.warn=20ms --set quota.warn=70%. Keys: ` + strings.Join(health.OverrideKeys(), ", ") + `.
Every finding id, threshold and its source: docs/doctor.md.

--metrics-file FILE also writes the findings as a Prometheus textfile (atomically), the
series 'etcdmedic exporter' serves (all but the quota ETA, which needs the exporter's
history of DB sizes); alert rules over them: 'etcdmedic alerts'.

--node checks the machine under a member instead, without loading etcd: fdatasync
latency of --data-dir's filesystem with etcd's write pattern (2300-byte writes, each
followed by fdatasync, up to 22 MiB or 10 s, in a temp file removed afterwards), free
space against the DB size, expiry of the certificates the manifest names (warn < 30
days, crit < 7), the compaction settings (etcd's --auto-compaction-*, kube-apiserver's
--etcd-compaction-interval from its manifest beside etcd's, 5m when unset) against the
revision growth rate (two Status readings of the local member --window apart and a
count-only read: the history kept between compactions against the quota, or when
nothing compacts how soon the quota is reached), and the static pod's probe budget
against the expected start, as 'breakglass probes' judges it. The data dir and
certificates come from the etcd manifest (--manifest, else discovery) unless
--data-dir is given.

On a node whose etcd manifest is read (kubeadm, RKE2, OpenShift, --manifest), doctor
also reports the probe budget (node.probeBudget) beside the cluster's findings.

A hung member makes its own checks "unknown" and costs one --command-timeout, which
passes inside the window; the run ends within about the longer of --command-timeout and
--window, plus a second.

Exit codes: 0 every finding ok; 1 the worst is a warning; 2 the worst is critical;
3 could not tell (some findings unknown, none worse); 64 usage error.`,
		Example: `  # on a kubeadm control-plane node
  sudo etcdmedic doctor

  # every finding, including the ok ones, as JSON
  etcdmedic doctor -o json | jq '.findings[] | select(.severity != "ok")'

  # OpenShift's thresholds, a longer window and a data-consistency check
  etcdmedic doctor --preset openshift --window 15s --consistency

  # keep watching (like top); one summary line per round when not on a terminal
  etcdmedic doctor --watch 10s`,
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
	fl.StringVar(&opts.Preset, "preset", opts.Preset, "threshold preset: "+strings.Join(health.PresetNames(), ", "))
	fl.StringArrayVar(&opts.Overrides, "set", opts.Overrides, "override one threshold, key=value (repeatable)")
	fl.DurationVar(&opts.Window, "window", opts.Window, "time between the two samples that raft progress and metric deltas come from")
	fl.BoolVar(&opts.Consistency, "consistency", opts.Consistency, "compare HashKV of every voter at one revision (reads every voter's whole keyspace)")
	fl.DurationVar(&opts.Watch, "watch", opts.Watch, "run again every DURATION until interrupted")
	fl.BoolVar(&opts.All, "all", opts.All, "list every finding in the table, not only the ones that need attention")
	addNodeFlags(fl, opts)
	_ = cmd.RegisterFlagCompletionFunc("preset", cobra.FixedCompletions(health.PresetNames(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Validate checks flags before anything connects.
func (o *Options) Validate() error {
	t, err := health.Resolve(o.Preset, o.Overrides)
	if err != nil {
		return cmdutil.UsageError(err)
	}
	// Two samples the same instant apart compare nothing: raft progress and
	// every latency and counter need a window.
	if err := cmdutil.Check(
		cmdutil.DurationIn("window", o.Window, 100*time.Millisecond, 10*time.Minute),
		cmdutil.DurationIn("watch", o.Watch, 0, 24*time.Hour),
		cmdutil.WritableDir("metrics-file", o.MetricsFile),
	); err != nil {
		return err
	}
	o.thresholds = t
	return nil
}

func Run(ctx context.Context, opts *Options) error {
	if opts.thresholds == (health.Thresholds{}) {
		if err := opts.Validate(); err != nil {
			return err
		}
	}
	if opts.Node {
		return runNode(ctx, opts)
	}
	c, err := opts.OpenCluster()
	if err != nil {
		return err
	}
	defer c.Close()
	hopts := health.Options{Preset: opts.Preset, Thresholds: opts.thresholds, Window: opts.Window,
		Consistency: opts.Consistency, Connection: c.Config.ConnectionFlags(), Rerun: opts.rerunArgs()}

	// On a node whose etcd manifest was read, the local static pod's probe
	// budget is judged beside the cluster, measured while Diagnose waits
	// out its window.
	probe := startProbe(c.Config.Local, opts.root(), opts.thresholds, health.CarryArgs(opts.Preset, opts.Overrides, "probes."))
	if opts.Watch == 0 {
		r := health.Diagnose(ctx, c, hopts)
		probe.addTo(r)
		if err := render(opts, r); err != nil {
			return err
		}
		if err := writeMetrics(opts, r); err != nil {
			return err
		}
		return exitFor(r)
	}
	return watch(ctx, opts, c, hopts, probe)
}

// root is where discovery read the node's files ($ETCDMEDIC_ROOT).
func (o *Options) root() string {
	if o.Getenv == nil {
		return ""
	}
	return o.Getenv(cluster.RootEnv)
}

// exitFor: the report is printed; its worst severity is the outcome.
func exitFor(r *health.Report) error { return cmdutil.Outcome(r.Severity) }

// watch refreshes in place on a terminal, like top; elsewhere it prints one
// summary line per round (JSON: one report per line).
func watch(ctx context.Context, opts *Options, c *cluster.Cluster, hopts health.Options, probe *pendingProbe) error {
	var last *health.Report
	for {
		r := health.Diagnose(ctx, c, hopts)
		if ctx.Err() != nil {
			break
		}
		probe.addTo(r)
		last = r
		if err := writeMetrics(opts, r); err != nil {
			return err
		}
		switch {
		case opts.Format().Machine():
			if err := output.WriteJSONLine(opts.IO.Out, r); err != nil {
				return err
			}
		case opts.IO.IsStdoutTTY():
			fmt.Fprint(opts.IO.Out, "\x1b[H\x1b[2J")
			fmt.Fprintf(opts.IO.Out, "etcdmedic doctor --watch %s — %s (Ctrl-C to stop)\n\n", opts.Watch, time.Now().Format(time.TimeOnly))
			if err := renderTable(opts, r); err != nil {
				return err
			}
		default:
			fmt.Fprintln(opts.IO.Out, summaryLine(r))
		}
		select {
		case <-ctx.Done():
		case <-time.After(opts.Watch):
			continue
		}
		break
	}
	if last == nil {
		return fault.New(fault.Indeterminate, "interrupted before the first round finished")
	}
	return exitFor(last)
}

// rerunArgs are the flags that make "run doctor again" judge as this run
// did; the connection and --window are added by the judge.
func (o *Options) rerunArgs() []string {
	args := health.CarryArgs(o.Preset, o.Overrides)
	if o.Consistency {
		args = append(args, "--consistency")
	}
	return args
}
