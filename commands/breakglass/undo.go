package breakglass

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

type UndoOptions struct {
	IO          *iostreams.IOStreams
	OpenCluster func() (*cluster.Cluster, error)
	Format      func() output.Format
	Layout      LayoutFlags
	Pods        bool
	Yes         bool
	DryRun      bool
}

func NewCmdUndo(f *cmdutil.Factory, runF func(context.Context, *UndoOptions) error) *cobra.Command {
	opts := &UndoOptions{IO: f.IOStreams, OpenCluster: f.OpenCluster, Format: f.Format}
	cmd := &cobra.Command{
		Use:   "undo",
		Short: "Walk the journal backwards: manifests back byte-identical, break-glass apiserver removed",
		Long: `Revert what the journal records, newest first: the break-glass apiserver manifest is
removed (only if it is still the one etcdmedic wrote), quarantined manifests return to
the static-pod directory byte-identical (their sha256 is checked against the journal
on both ends; a different file in the way stops the undo), and, only with --pods,
purged pods are put back from their archives where the key does not exist now.
Each reverted entry is journaled; running undo again does nothing more.`,
		Example: `  etcdmedic breakglass undo                 # shows what it would revert, asks
  etcdmedic breakglass undo --yes
  etcdmedic breakglass undo --pods --yes    # also restore purged pods
  etcdmedic breakglass undo --root /mnt/cp-2 --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunUndo(cmd.Context(), opts)
		},
	}
	opts.Layout.register(cmd)
	cmd.Flags().BoolVar(&opts.Pods, "pods", false, "also restore purged pods from their archives (needs etcd)")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do it without asking")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "only show what would be reverted")
	return cmd
}

func RunUndo(ctx context.Context, opts *UndoOptions) error {
	l, j, err := opts.Layout.resolve()
	if err != nil {
		return err
	}
	uo := bg.UndoOptions{RestorePods: opts.Pods, DryRun: true}
	plan, err := bg.Undo(ctx, l, j, uo)
	if err != nil {
		return codeOf(err)
	}
	machine := opts.Format().Machine()
	if len(plan) == 0 {
		if machine {
			return output.Write(opts.IO.Out, opts.Format(), map[string]any{"dryRun": opts.DryRun, "steps": []bg.UndoStep{}})
		}
		fmt.Fprintln(opts.IO.Out, "The journal holds nothing to undo.")
		return nil
	}
	if !machine {
		renderUndo(opts.IO, plan)
	}
	if opts.DryRun || !confirm(opts.IO, opts.Yes, "Revert these?") {
		if machine {
			return output.Write(opts.IO.Out, opts.Format(), map[string]any{"dryRun": true, "steps": plan})
		}
		return nil
	}
	uo.DryRun = false
	if opts.Pods {
		cli, closeFn, err := openClient(ctx, opts.OpenCluster)
		if err != nil {
			return err
		}
		defer closeFn()
		uo.Client = cli
	}
	steps, err := bg.Undo(ctx, l, j, uo)
	if machine {
		if werr := output.Write(opts.IO.Out, opts.Format(), map[string]any{"dryRun": false, "steps": steps}); werr != nil {
			return werr
		}
	} else {
		fmt.Fprintln(opts.IO.Out)
		renderUndo(opts.IO, steps)
	}
	return codeOf(err)
}

func renderUndo(io *iostreams.IOStreams, steps []bg.UndoStep) {
	t := output.NewTable(io.Out, io.IsStdoutTTY(), "ENTRY", "ACTION", "PATH", "RESULT", "DETAIL")
	for _, s := range steps {
		t.Row(fmt.Sprintf("#%d", s.Ref), s.Action, s.Path, s.Result, s.Detail)
	}
	_ = t.Render()
}
