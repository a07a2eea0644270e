package breakglass

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

type EtcdOnlyOptions struct {
	IO     *iostreams.IOStreams
	Format func() output.Format
	Layout LayoutFlags
	Yes    bool
	DryRun bool
	Wait   time.Duration
}

func NewCmdEtcdOnly(f *cmdutil.Factory, runF func(context.Context, *EtcdOnlyOptions) error) *cobra.Command {
	opts := &EtcdOnlyOptions{IO: f.IOStreams, Format: f.Format}
	cmd := &cobra.Command{
		Use:   "etcd-only",
		Short: "Move every control-plane manifest except etcd's out of the static-pod directory",
		Long: `Leave only etcd running on this node: every manifest in the static-pod directory
other than etcd's is moved into the quarantine directory, outside it (the kubelet runs
every file there whose name does not start with a dot, whatever its extension, so a
backup left beside the manifests would still run). Each move is checked (sha256 of
the copy before the original goes) and journaled. Running it again changes nothing.

With --root it works offline on a control-plane disk mounted elsewhere: the way the
other members are kept quiet before they boot. With --wait and crictl on the PATH it
waits, bounded, until the moved components' containers are gone (the kubelet looks
at its directory every 20 s).

Undo with 'etcdmedic breakglass undo': the manifests come back byte-identical.`,
		Example: `  etcdmedic breakglass etcd-only            # shows the moves, asks
  etcdmedic breakglass etcd-only --yes --wait 2m
  etcdmedic breakglass etcd-only --root /mnt/cp-2 --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunEtcdOnly(cmd.Context(), opts)
		},
	}
	opts.Layout.register(cmd)
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do it without asking")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "only show the moves")
	cmd.Flags().DurationVar(&opts.Wait, "wait", 0, "wait up to this long for the moved containers to stop (needs crictl; 0: do not wait)")
	return cmd
}

type etcdOnlyResult struct {
	DryRun bool      `json:"dryRun"`
	Moves  []bg.Move `json:"moves"`
	Kept   []string  `json:"kept"`
}

func RunEtcdOnly(ctx context.Context, opts *EtcdOnlyOptions) error {
	l, j, err := opts.Layout.resolve()
	if err != nil {
		return err
	}
	moves, keep, err := bg.EtcdOnlyPlan(l)
	if err != nil {
		return codeOf(err)
	}
	res := etcdOnlyResult{DryRun: true, Moves: moves}
	for _, m := range keep {
		res.Kept = append(res.Kept, l.Rel(m.Path))
	}
	machine := opts.Format().Machine()
	if len(moves) == 0 {
		if machine {
			return output.Write(opts.IO.Out, opts.Format(), res)
		}
		fmt.Fprintf(opts.IO.Out, "Only etcd is in %s: nothing to do.\n", l.Rel(l.ManifestDir))
		return nil
	}
	if !machine {
		renderMoves(opts.IO, moves, "would move")
	}
	if opts.DryRun || !confirm(opts.IO, opts.Yes, "Move these manifests out?") {
		if machine {
			return output.Write(opts.IO.Out, opts.Format(), res)
		}
		return nil
	}
	res.DryRun = false
	res.Moves, err = bg.EtcdOnly(l, j)
	if machine {
		if werr := output.Write(opts.IO.Out, opts.Format(), res); werr != nil {
			return werr
		}
	} else {
		renderMoves(opts.IO, res.Moves, "moved")
	}
	if err != nil {
		return codeOf(err)
	}
	if opts.Wait > 0 && l.Root == "/" {
		var names []string
		for _, m := range res.Moves {
			names = append(names, m.Component)
		}
		checked, werr := bg.WaitContainersGone(ctx, names, opts.Wait)
		switch {
		case werr != nil:
			return codeOf(werr)
		case !checked:
			fmt.Fprintln(opts.IO.ErrOut, "crictl not found: not waiting for the containers to stop")
		case !machine:
			fmt.Fprintln(opts.IO.Out, "Their containers have stopped.")
		}
	}
	return nil
}

func renderMoves(io *iostreams.IOStreams, moves []bg.Move, verb string) {
	t := output.NewTable(io.Out, io.IsStdoutTTY(), "COMPONENT", "FROM", "TO", "SHA256", "RESULT")
	for _, m := range moves {
		result := verb
		if m.Error != "" {
			result = "failed: " + m.Error
		} else if verb == "moved" && !m.Done {
			result = "not moved"
		}
		t.Row(m.Component, m.From, m.To, m.SHA256[:12], result)
	}
	_ = t.Render()
}
