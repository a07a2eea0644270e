// Package status implements `etcdmedic status`: one row per member.
package status

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

type Options struct {
	IO          *iostreams.IOStreams
	OpenCluster func() (*cluster.Cluster, error)
	Format      func() output.Format

	// Preset and Overrides choose the thresholds verdicts are judged by:
	// the same as doctor's, so the two never disagree about one member.
	Preset    string
	Overrides []string
}

func NewCmdStatus(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, OpenCluster: f.OpenCluster, Format: f.Format, Preset: health.DefaultPreset}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "One row per member: health, size, fragmentation, quota, raft, disk latency",
		Long: `Show every member of the cluster, found through one reachable endpoint's member list
(members are identified by member ID; learners are marked). Each member is asked in
parallel, and each is bounded by --command-timeout: a hung member is a row with its
error, never a hang.

FSYNC P99 and COMMIT P99 come from the member's /metrics histograms and cover the
member's lifetime since it started; "-" means /metrics could not be read. For the
latency of the last few seconds use 'etcdmedic doctor'.

QUOTA comes from the Status response (etcd 3.6+), else from the
etcd_server_quota_backend_bytes metric, else etcd's 2 GiB default is assumed; the
source is shown when it is not Status.

VERDICT is the roll-up of the checks doctor runs on one sample, with the same thresholds
(--preset, --set): a member is critical when a check is critical (an alarm, no leader,
quorum lost — a leader still naming itself in the second before etcd steps it down says
"leads without quorum" —, quota past its critical level, commit→apply gap past etcd's
limit), degraded when one warns (quota or fragmentation past the warning level, a
follower behind, a defragmentation in flight), unreachable when it does not answer.
The cluster is critical when any check is, degraded when any warns or a member does not
answer while quorum holds. Latency is shown, not judged: a lifetime p99 says little
about now ('etcdmedic doctor' judges the last --window).

Exit codes: 0 healthy; 1 degraded (a warning, or a member unreachable while quorum
holds); 2 critical (quorum lost, no leader, an alarm, a critical check); 3 no member
reachable (or auth refused); 64 usage error.`,
		Example: `  # on a kubeadm control-plane node: no flags needed
  etcdmedic status

  # explicit endpoints and certificates
  etcdmedic status --endpoints https://10.0.0.11:2379 --cacert ca.crt --cert client.crt --key client.key

  # the member IDs with more than 40 % fragmentation
  etcdmedic status -o json | jq -r '.members[] | select(.fragmentation > 0.4) | .id'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Preset, "preset", opts.Preset, "threshold preset, as doctor's: "+strings.Join(health.PresetNames(), ", "))
	fl.StringArrayVar(&opts.Overrides, "set", opts.Overrides, "override one threshold, key=value (repeatable; keys: etcdmedic doctor --help)")
	_ = cmd.RegisterFlagCompletionFunc("preset", cobra.FixedCompletions(health.PresetNames(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// doctorCommand is the next step status prints when the cluster is not
// healthy: doctor with this run's connection and thresholds, so that it
// reaches the same cluster and judges it the same way.
func (opts *Options) doctorCommand(cfg *cluster.Config) string {
	var judge []string
	if opts.Preset != health.DefaultPreset {
		judge = append(judge, "--preset", opts.Preset)
	}
	for _, o := range opts.Overrides {
		judge = append(judge, "--set", o)
	}
	return cmdutil.DoctorCommand(cfg, judge...)
}

// Run gathers, judges and renders the status; the error carries the verdict.
// Whatever happens after the flags are read, -o json prints one document.
func Run(ctx context.Context, opts *Options) error {
	t, err := health.Resolve(opts.Preset, opts.Overrides)
	if err != nil {
		return cmdutil.UsageError(err)
	}
	c, err := opts.OpenCluster()
	if err != nil {
		return err
	}
	defer c.Close()
	// The scrapes are the slowest part (the member gathers every metric
	// first): started now, they run beside the connections and the member list.
	probe := cluster.ProbeOptions{Families: health.MetricFamilies()}
	c.PrefetchMetrics(ctx, probe)
	ms, err := c.Members(ctx)
	if err != nil {
		// Still one document for machines; the reason goes to stderr either way.
		if f := opts.Format(); f.Machine() {
			if werr := output.Write(opts.IO.Out, f, health.Unanswered(err)); werr != nil {
				return werr
			}
		}
		return fault.Mark(err, fault.Indeterminate)
	}
	snap := c.Probe(ctx, ms, probe)
	report := health.Status(snap, health.SampleOptions{Thresholds: t, Connection: c.Config.ConnectionFlags()})
	if f := opts.Format(); f.Machine() {
		if err := output.Write(opts.IO.Out, f, report); err != nil {
			return err
		}
	} else if err := renderTable(opts.IO, report, opts.doctorCommand(c.Config)); err != nil {
		return err
	}
	return cmdutil.Outcome(report.Severity)
}
