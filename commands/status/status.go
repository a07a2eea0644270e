// Package status implements `etcdmedic status`: one row per member.
package status

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/exitcode"
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
