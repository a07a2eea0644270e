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
	"github.com/etcdmedic/etcdmedic/internal/step"
)

type EtcdOnlyOptions struct {
	IO         *iostreams.IOStreams
	Format     func() output.Format
	Connection func() []string // flags for the next steps printed
	Layout     LayoutFlags
	Confirmation
	Wait time.Duration
}

func NewCmdEtcdOnly(f *cmdutil.Factory, runF func(context.Context, *EtcdOnlyOptions) error) *cobra.Command {
	opts := &EtcdOnlyOptions{IO: f.IOStreams, Format: f.Format, Connection: connectionOf(f)}
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
		Example: `  etcdmedic breakglass etcd-only --dry-run  # shows the moves
  etcdmedic breakglass etcd-only            # shows the moves, asks on a terminal
  etcdmedic breakglass etcd-only --yes --wait 2m
  etcdmedic breakglass etcd-only --root /mnt/cp-2 --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := durationIn("wait", opts.Wait, 0, maxWait); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunEtcdOnly(cmd.Context(), opts)
		},
	}
	opts.Layout.register(cmd)
	opts.Confirmation.register(cmd, "only show the moves")
	cmd.Flags().DurationVar(&opts.Wait, "wait", 0, "wait up to this long for the moved containers to stop (needs crictl; 0: do not wait)")
	return cmd
}

// EtcdOnlyResult is the plan (dryRun) or what was moved.
type EtcdOnlyResult struct {
	DryRun      bool      `json:"dryRun"`
	ManifestDir string    `json:"manifestDir"`
	Moves       []bg.Move `json:"moves"`
	Kept        []string  `json:"kept"`
	// ContainersStopped is set with --wait when crictl could tell.
	ContainersStopped *bool  `json:"containersStopped,omitempty"`
	Next              string `json:"next,omitempty"`
	Undo              string `json:"undo,omitempty"`
}

func RunEtcdOnly(ctx context.Context, opts *EtcdOnlyOptions) error {
	l, j, err := opts.Layout.resolve()
	if err != nil {
		return err
	}
	next := nextStep{layout: opts.Layout, conn: opts.Connection}
	s := step.Step[*EtcdOnlyResult]{
		Exclusive: l.Exclusive,
		Plan: func(context.Context) (step.Plan[*EtcdOnlyResult], error) {
			moves, keep, err := bg.EtcdOnlyPlan(l)
			if err != nil {
				return step.Plan[*EtcdOnlyResult]{}, err
			}
			res := &EtcdOnlyResult{DryRun: true, ManifestDir: l.Rel(l.ManifestDir), Moves: append([]bg.Move{}, moves...), Kept: paths(l, keep)}
			p := step.Plan[*EtcdOnlyResult]{Question: fmt.Sprintf("Move these %d manifests out?", len(moves)), Preview: res}
			for _, m := range moves {
				p.Changes = append(p.Changes, step.Change{Action: "move", Target: m.From, Line: fmt.Sprintf("move %s to %s", m.From, m.To)})
			}
			return p, nil
		},
		Apply: func(ctx context.Context) (*EtcdOnlyResult, error) {
			moves, err := bg.EtcdOnly(l, j)
			if moves == nil {
				return nil, err
			}
			res := &EtcdOnlyResult{ManifestDir: l.Rel(l.ManifestDir), Moves: moves, Undo: next.command("breakglass", "undo")}
			if _, keep, kerr := bg.EtcdOnlyPlan(l); kerr == nil {
				res.Kept = paths(l, keep)
			}
			if err != nil {
				return res, err
			}
			res.Next = next.command("breakglass", "apiserver", "--localhost")
			if opts.Wait > 0 && l.Root == "/" {
				var names []string
				for _, m := range moves {
					names = append(names, m.Component)
				}
				checked, werr := bg.WaitContainersGone(ctx, names, opts.Wait)
				if !checked {
					fmt.Fprintln(opts.IO.ErrOut, "crictl not found: not waiting for the containers to stop")
				} else {
					stopped := werr == nil
					res.ContainersStopped = &stopped
				}
				return res, werr
			}
			return res, nil
		},
	}
	_, err = step.Run(ctx, opts.Confirmation.options(opts.IO, opts.Format()), s)
	return err
}

func (r *EtcdOnlyResult) Table(io *iostreams.IOStreams) error {
	if len(r.Moves) == 0 {
		_, err := fmt.Fprintf(io.Out, "Only etcd is in %s: nothing to do.\n", r.ManifestDir)
		return err
	}
	verb := "moved"
	if r.DryRun {
		verb = "would move"
	}
	t := output.NewTable(io.Out, io.IsStdoutTTY(), "COMPONENT", "FROM", "TO", "SHA256", "RESULT")
	for _, m := range r.Moves {
		result := verb
		if m.Error != "" {
			result = "failed: " + m.Error
		} else if !r.DryRun && !m.Done {
			result = "not moved"
		}
		t.Row(m.Component, m.From, m.To, m.SHA256[:12], result)
	}
	if err := t.Render(); err != nil {
		return err
	}
	if r.ContainersStopped != nil && *r.ContainersStopped {
		fmt.Fprintln(io.Out, "Their containers have stopped.")
	}
	printNext(io, r.Next, r.Undo)
	return nil
}

func paths(l *bg.Layout, ms []*bg.Manifest) []string {
	var out []string
	for _, m := range ms {
		out = append(out, l.Rel(m.Path))
	}
	return out
}

// printNext ends a step's table output with the commands to run next.
func printNext(io *iostreams.IOStreams, next, undo string) {
	if next != "" {
		fmt.Fprintf(io.Out, "Next: %s\n", next)
	}
	if undo != "" {
		fmt.Fprintf(io.Out, "Undo: %s\n", undo)
	}
}
