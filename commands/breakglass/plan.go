package breakglass

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	healthcheck "github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/humanize"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	"github.com/etcdmedic/etcdmedic/internal/step"
)

type PlanOptions struct {
	IO          *iostreams.IOStreams
	OpenCluster func() (*cluster.Cluster, error)
	Format      func() output.Format
	Connection  func() []string // flags for the next steps printed
	Layout      LayoutFlags
	NoHealth    bool
}

func NewCmdPlan(f *cmdutil.Factory, runF func(context.Context, *PlanOptions) error) *cobra.Command {
	opts := &PlanOptions{IO: f.IOStreams, OpenCluster: f.OpenCluster, Format: f.Format, Connection: connectionOf(f)}
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Inspect the node and print the runbook, each step with its command and state",
		Long: `Inspect this node (or, with --root, a control-plane disk mounted elsewhere): the
static-pod directory (the kubelet config's staticPodPath, default
/etc/kubernetes/manifests), the manifests in it and in quarantine, the etcd data
directory and its size, etcd's health if it answers (skipped with --root or
--no-health), and what the journal says was already done. Then print the ordered
runbook with the exact etcdmedic command for each step and its state: done, next or
pending. After a force-new-cluster the journal names the members it left out, and
the runbook starts with each one's member add and promote, marked done as etcd's
member list shows them back. Changes nothing.`,
		Example: `  etcdmedic breakglass plan
  etcdmedic breakglass plan --root /mnt/cp-2 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunPlan(cmd.Context(), opts)
		},
	}
	opts.Layout.register(cmd)
	cmd.Flags().BoolVar(&opts.NoHealth, "no-health", false, "do not contact etcd")
	return cmd
}

// planView renders the plan report.
type planView struct{ *bg.PlanReport }

func RunPlan(ctx context.Context, opts *PlanOptions) error {
	l, j, err := opts.Layout.resolve()
	if err != nil {
		return err
	}
	command := nextStep{layout: opts.Layout, conn: opts.Connection}.command
	r, err := bg.Plan(l, j, command)
	if err != nil {
		return err
	}
	if !opts.NoHealth && (opts.Layout.Root == "" || opts.Layout.Root == "/") {
		var lost bool
		var members []cluster.Member
		r.Health, lost, members = etcdHealth(ctx, opts.OpenCluster)
		if lost {
			r.QuorumLossRunbook(l, j, command)
		}
		r.MarkRejoined(members)
	}
	return step.Render(opts.IO, opts.Format(), planView{r})
}

func (r planView) Table(io *iostreams.IOStreams) error {
	out := io.Out
	p := io.Palette()
	fmt.Fprintf(out, "static-pod directory %s (%s layout, from %s)\n", r.ManifestDir, r.Distribution, r.ManifestDirFrom)
	t := output.NewTable(out, io.IsStdoutTTY(), "WHERE", "FILE", "COMPONENT", "SHA256")
	for _, m := range r.Manifests {
		c := m.Component
		if m.BreakGlass {
			c += " (break-glass)"
		}
		t.Row("manifests", m.Path, c, m.SHA256[:12])
	}
	for _, m := range r.Quarantined {
		t.Row("quarantine", m.Path, m.Component, m.SHA256[:12])
	}
	if err := t.Render(); err != nil {
		return err
	}
	if r.EtcdDataDir != "" {
		fmt.Fprintf(out, "etcd data dir %s: %s\n", r.EtcdDataDir, humanize.Bytes(r.EtcdDataDirBytes))
	}
	if r.Health != "" {
		fmt.Fprintf(out, "etcd: %s\n", r.Health)
	}
	fmt.Fprintf(out, "journal %s: %d entries\n\n", r.Journal, r.JournalEntries)
	for _, s := range r.Steps {
		st := s.State
		switch s.State {
		case bg.StateDone:
			st = p.Good.Render(st)
		case bg.StateNext:
			st = p.Warn.Render(st)
		}
		fmt.Fprintf(out, "%d. [%s] %s\n     %s\n", s.Step, st, s.Title, s.Command)
		if s.Detail != "" {
			fmt.Fprintf(out, "     (%s)\n", s.Detail)
		}
	}
	return nil
}

// etcdHealth is a one-line etcd verdict, bounded so plan never hangs on etcd,
// and whether fewer voters answer than quorum needs.
func etcdHealth(ctx context.Context, open func() (*cluster.Cluster, error)) (string, bool, []cluster.Member) {
	c, err := open()
	if err != nil {
		return "not checked: " + err.Error(), false, nil
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ms, err := c.Members(ctx)
	if err != nil {
		return "unreachable: " + err.Error(), false, nil
	}
	snap := c.Probe(ctx, ms, cluster.ProbeOptions{SkipMetrics: true})
	th, _ := healthcheck.Resolve("", nil)
	r := healthcheck.Status(snap, healthcheck.SampleOptions{Thresholds: th})
	return fmt.Sprintf("%d of %d voters answer (quorum %d), verdict %s", r.Quorum.Reachable, r.Quorum.Voters, r.Quorum.Needed, r.Verdict), r.Quorum.Reachable < r.Quorum.Needed, ms.Members
}
