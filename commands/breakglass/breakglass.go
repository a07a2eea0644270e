// Package breakglass implements `etcdmedic breakglass ...`: the recovery
// runbook, one subcommand per step. The work is in the breakglass package.
package breakglass

import (
	"github.com/spf13/cobra"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	"github.com/etcdmedic/etcdmedic/internal/step"
)

// NewCmdBreakglass is the command group.
func NewCmdBreakglass(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "breakglass <command>",
		Short: "The recovery runbook, scripted: etcd-only boot, localhost apiserver, ramp, stale-pod purge, undo",
		Long: `Break-glass recovery for a control plane that keeps falling over: every time etcd
comes back, the apiserver starts, every client reconnects and lists tens of thousands
of stale pods, and it goes down again. Each step says what it will change, changes
nothing without --yes (or a "y" on a terminal; --dry-run shows the plan only), checks
what it did, records it in a
journal (<root>/var/lib/etcdmedic/breakglass/journal.jsonl: path, sha256, time, user,
result; never secrets), and 'breakglass undo' reverts it.

Start with 'etcdmedic breakglass plan': it inspects the node (or a control-plane
disk mounted elsewhere, with --root) and prints the runbook with the exact command for
each step and whether it is done.

Every next step a command prints (Next: …, Undo: …, the plan's runbook) carries the
layout and connection flags in effect, never a password: run it as printed.

Exit codes: 0 done, nothing to do, or --dry-run; 1 partly done; 2 failed (a ramp gate
regressed, an RPC failed); 3 etcd unreachable; 4 refused: by a safety check, or not
confirmed (no --yes and no terminal to ask on, or an answer other than "y" at the
prompt: "aborted"), nothing changed; 64 bad flags or bad input (a root without
manifests, a manifest that is not a Pod).`,
	}
	cmd.AddCommand(
		NewCmdPlan(f, nil),
		NewCmdEtcdOnly(f, nil),
		NewCmdAPIServer(f, nil),
		NewCmdRamp(f, nil),
		NewCmdPurgePods(f, nil),
		NewCmdUndo(f, nil),
		NewCmdJournal(f, nil),
		NewCmdSurvivors(f, nil),
		NewCmdDefragOffline(f, nil),
		NewCmdForceNewCluster(f, nil),
		NewCmdProbes(f, nil),
	)
	return cmd
}

// LayoutFlags locate the node's files; every path is inside --root.
type LayoutFlags struct {
	Root, KubeletConfig, ManifestDir, QuarantineDir, StateDir string
}

func (lf *LayoutFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&lf.Root, "root", "/", "root of the node's filesystem: a control-plane disk mounted elsewhere works offline")
	fs.StringVar(&lf.KubeletConfig, "kubelet-config", bg.DefaultKubeletConfig, "kubelet config file whose staticPodPath names the manifest directory")
	fs.StringVar(&lf.ManifestDir, "manifest-dir", "", "static-pod directory (default: the kubelet's staticPodPath, else "+bg.DefaultStaticPodPath+")")
	fs.StringVar(&lf.QuarantineDir, "quarantine-dir", bg.DefaultQuarantine, "where manifests are moved to; must be outside the manifest directory")
	fs.StringVar(&lf.StateDir, "state-dir", bg.DefaultStateDir, "journal and purge archives")
	_ = cmd.MarkFlagDirname("root")
}

func (lf *LayoutFlags) resolve() (*bg.Layout, *bg.Journal, error) {
	l, err := bg.ResolveLayout(bg.LayoutOptions{Root: lf.Root, KubeletConfig: lf.KubeletConfig,
		ManifestDir: lf.ManifestDir, QuarantineDir: lf.QuarantineDir, StateDir: lf.StateDir})
	if err != nil {
		return nil, nil, err
	}
	return l, bg.OpenJournal(l.JournalPath()), nil
}

// Confirmation is the flags every changing step takes.
type Confirmation struct{ Yes, DryRun bool }

func (c Confirmation) options(io *iostreams.IOStreams, f output.Format) step.Options {
	return step.Options{IO: io, Format: f, Yes: c.Yes, DryRun: c.DryRun}
}

func (c *Confirmation) register(cmd *cobra.Command, dryRun string) {
	cmd.Flags().BoolVarP(&c.Yes, "yes", "y", false, "do it without asking")
	cmd.Flags().BoolVar(&c.DryRun, "dry-run", false, dryRun)
}
