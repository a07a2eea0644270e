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
	"github.com/etcdmedic/etcdmedic/internal/step"
)

type UndoOptions struct {
	IO          *iostreams.IOStreams
	OpenCluster func() (*cluster.Cluster, error)
	Format      func() output.Format
	Layout      LayoutFlags
	Pods        bool
	Confirmation
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
		Example: `  etcdmedic breakglass undo --dry-run       # what it would revert
  etcdmedic breakglass undo                 # shows what it would revert, asks on a terminal
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
	opts.Confirmation.register(cmd, "only show what would be reverted")
	return cmd
}

// UndoResult is the reverts planned (dryRun) or done, newest entry first.
type UndoResult struct {
	DryRun bool          `json:"dryRun"`
	Steps  []bg.UndoStep `json:"steps"`
}

func RunUndo(ctx context.Context, opts *UndoOptions) error {
	l, j, err := opts.Layout.resolve()
	if err != nil {
		return err
	}
	s := step.Step[*UndoResult]{
		Exclusive: l.Exclusive,
		Plan: func(ctx context.Context) (step.Plan[*UndoResult], error) {
			steps, err := bg.Undo(ctx, l, j, bg.UndoOptions{RestorePods: opts.Pods, DryRun: true})
			if err != nil {
				return step.Plan[*UndoResult]{}, err
			}
			p := step.Plan[*UndoResult]{Question: "Revert these?", Preview: &UndoResult{DryRun: true, Steps: append([]bg.UndoStep{}, steps...)}}
			for _, st := range steps {
				if st.Result == "would-undo" {
					p.Changes = append(p.Changes, step.Change{Action: "revert", Target: fmt.Sprintf("#%d", st.Ref), Line: fmt.Sprintf("revert #%d %s %s", st.Ref, st.Action, st.Path)})
				}
			}
			return p, nil
		},
		Apply: func(ctx context.Context) (*UndoResult, error) {
			uo := bg.UndoOptions{RestorePods: opts.Pods}
			if opts.Pods {
				c, err := opts.OpenCluster()
				if err != nil {
					return nil, err
				}
				defer c.Close()
				uo.Cluster = c
			}
			steps, err := bg.Undo(ctx, l, j, uo)
			return &UndoResult{Steps: append([]bg.UndoStep{}, steps...)}, err
		},
	}
	_, err = step.Run(ctx, opts.Confirmation.options(opts.IO, opts.Format()), s)
	return err
}

func (r *UndoResult) Table(io *iostreams.IOStreams) error {
	if len(r.Steps) == 0 {
		_, err := fmt.Fprintln(io.Out, "The journal holds nothing to undo.")
		return err
	}
	if !r.DryRun {
		fmt.Fprintln(io.Out)
	}
	t := output.NewTable(io.Out, io.IsStdoutTTY(), "ENTRY", "ACTION", "PATH", "RESULT", "DETAIL")
	for _, s := range r.Steps {
		t.Row(fmt.Sprintf("#%d", s.Ref), s.Action, s.Path, s.Result, s.Detail)
	}
	return t.Render()
}
