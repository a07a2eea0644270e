// Package status implements `etcdmedic status`: one row per member.
package status

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/exitcode"
	"github.com/etcdmedic/etcdmedic/internal/humanize"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

type Options struct {
	IO          *iostreams.IOStreams
	OpenCluster func() (*cluster.Cluster, error)
	Format      func() output.Format
}

func NewCmdStatus(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, OpenCluster: f.OpenCluster, Format: f.Format}
	return &cobra.Command{
		Use:   "status",
		Short: "One row per member: health, size, fragmentation, quota, raft, disk latency",
		Long: `Show every member of the cluster, found through one reachable endpoint's member list
(members are identified by member ID; learners are marked). Each member is asked in
parallel, and each is bounded by --command-timeout: a hung member is a row with its
error, never a hang.

FSYNC P99 and COMMIT P99 come from the member's /metrics histograms and cover the
member's lifetime since it started; "n/a" means /metrics could not be read. For the
latency of the last few seconds use 'etcdmedic doctor'.

QUOTA comes from the Status response (etcd 3.6+), else from the
etcd_server_quota_backend_bytes metric, else etcd's 2 GiB default is assumed; the
source is shown when it is not Status.

Exit codes: 0 all members healthy; 1 a member degraded or unreachable but quorum holds;
2 quorum lost, no leader, or an alarm raised; 3 no member reachable (or auth refused);
64 usage error.`,
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
}

// Run gathers and renders the status, and returns the exit code as an error.
func Run(ctx context.Context, opts *Options) error {
	c, err := opts.OpenCluster()
	if err != nil {
		return err
	}
	defer c.Close()
	ms, err := c.Members(ctx)
	if err != nil {
		return exitcode.New(exitcode.Unknown, err)
	}
	snap := c.Probe(ctx, ms, cluster.ProbeOptions{})
	report := snap.Report()
	if f := opts.Format(); f.Machine() {
		if err := output.Write(opts.IO.Out, f, report); err != nil {
			return err
		}
	} else if err := renderTable(opts.IO, report); err != nil {
		return err
	}
	if code := snap.Verdict().Severity(snap); code != exitcode.OK {
		return exitcode.Silent(code)
	}
	return nil
}

func renderTable(io *iostreams.IOStreams, r cluster.StatusReport) error {
	p := io.Palette()
	t := output.NewTable(io.Out, io.IsStdoutTTY(),
		"NAME", "ID", "ENDPOINT", "VERSION", "ROLE", "DB SIZE", "IN USE", "FRAG", "QUOTA", "TERM", "INDEX", "APPLIED", "ALARMS", "FSYNC P99", "COMMIT P99", "VERDICT")
	for _, m := range r.Members {
		role := "follower"
		switch {
		case m.IsLearner:
			role = "learner"
		case m.IsLeader:
			role = "leader"
		}
		if m.Error != "" {
			t.Row(m.Name, m.ID, m.Endpoint, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "n/a", "n/a", style(p, m.Verdict))
			continue
		}
		quota := humanize.Percent(m.QuotaUsage) + " of " + humanize.Bytes(m.Quota)
		if m.QuotaSource == cluster.QuotaDisabled {
			quota = "disabled"
		} else if m.QuotaSource != cluster.QuotaFromStatus {
			quota += " (" + m.QuotaSource + ")"
		}
		alarms := "-"
		if len(m.Alarms) > 0 {
			alarms = p.Bad.Render(strings.Join(m.Alarms, ","))
		}
		t.Row(m.Name, m.ID, m.Endpoint, m.Version, role,
			humanize.Bytes(m.DBSize), humanize.Bytes(m.DBSizeInUse), humanize.Percent(m.Fragmentation), quota,
			fmt.Sprint(m.RaftTerm), fmt.Sprint(m.RaftIndex), fmt.Sprint(m.RaftAppliedIndex), alarms,
			latency(m.WALFsyncP99Seconds), latency(m.BackendCommitP99Seconds), style(p, m.Verdict))
	}
	if err := t.Render(); err != nil {
		return err
	}
	out := io.Out
	fmt.Fprintln(out)
	leader := r.Leader
	for _, m := range r.Members {
		if m.ID == r.Leader && m.Name != "" {
			leader = m.Name
		}
	}
	if leader == "" {
		leader = "none"
	}
	fmt.Fprintf(out, "cluster %s: %d of %d voters answer (quorum %d), leader %s, verdict %s\n",
		r.ClusterID, r.Quorum.Reachable, r.Quorum.Voters, r.Quorum.Needed, leader, style(p, r.Verdict))
	for _, reason := range r.Reasons {
		fmt.Fprintf(out, "  %s %s\n", p.Bad.Render("!"), reason)
	}
	for _, m := range r.Members {
		switch {
		case m.Error != "":
			fmt.Fprintf(out, "  %s %s: %s\n", p.Bad.Render("!"), m.Name, m.Error)
		case len(m.Reasons) > 0:
			fmt.Fprintf(out, "  %s %s: %s\n", p.Warn.Render("~"), m.Name, strings.Join(m.Reasons, "; "))
		}
		if m.MetricsError != "" {
			fmt.Fprintf(out, "  %s %s: metrics n/a: %s\n", p.Dim.Render("·"), m.Name, m.MetricsError)
		}
	}
	return nil
}

func latency(s *float64) string {
	if s == nil {
		return "n/a"
	}
	return humanize.Seconds(*s)
}

func style(p iostreams.Palette, verdict string) string {
	switch verdict {
	case cluster.VerdictHealthy:
		return p.Good.Render(verdict)
	case cluster.VerdictDegraded, cluster.VerdictUnknown:
		return p.Warn.Render(verdict)
	default:
		return p.Bad.Render(verdict)
	}
}
