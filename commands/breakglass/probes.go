package breakglass

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	"github.com/etcdmedic/etcdmedic/internal/step"
)

type ProbesOptions struct {
	IO     *iostreams.IOStreams
	Format func() output.Format
	Layout LayoutFlags
	Confirmation
	Relax         bool
	ExpectedStart time.Duration
	// Preset and Overrides choose the thresholds the budget is judged by,
	// as doctor's (probes.margin), so the two agree.
	Preset    string
	Overrides []string
}

func NewCmdProbes(f *cmdutil.Factory, runF func(context.Context, *ProbesOptions) error) *cobra.Command {
	opts := &ProbesOptions{IO: f.IOStreams, Format: f.Format, Preset: health.DefaultPreset}
	cmd := &cobra.Command{
		Use:   "probes [--relax]",
		Short: "Size the etcd static pod's startup probe to the time this member needs to start",
		Long: `A member with a big database on a slow disk cannot read its data back before the
kubelet's probe gives up, and is killed over and over. probes sets the etcd static
pod's budgets (initialDelay + failureThreshold × period; the startup probe's, else the
liveness probe's, which then runs from the start) against this member's expected
start: (bolt file + WAL) ÷ the data dir's sequential read rate, measured on the bolt
file with its cached pages dropped (at most 256 MiB or 3 s), or --expected-start.

--relax writes a manifest whose startup probe allows at least twice what the judge
asks for, 2 × probes.margin × the expected start, so a later, slower measurement
still finds it enough (a copy of the liveness probe's handler when there is none: /livez passes
without quorum, /readyz would not); the liveness probe stays as it is, for once
the member runs. The change is journaled and 'breakglass undo' puts the original
back byte-identical. kubeadm regenerates etcd.yaml on upgrade: make it durable with
a kubeadm patch.

Exit codes: 0 the budget suffices (or --relax done, or --dry-run); 1 it does not;
4 --relax not confirmed; 64 bad input.`,
		Example: `  etcdmedic breakglass probes
  etcdmedic breakglass probes --relax --yes
  etcdmedic breakglass probes --root /mnt/cp-2 --expected-start 8m --relax --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := durationIn("expected-start", opts.ExpectedStart, 0, 24*time.Hour); err != nil {
				return err
			}
			if _, err := health.Resolve(opts.Preset, opts.Overrides); err != nil {
				return cmdutil.UsageError(err)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunProbes(cmd.Context(), opts)
		},
	}
	opts.Layout.register(cmd)
	opts.Confirmation.register(cmd, "with --relax: only show the new startup probe")
	cmd.Flags().BoolVar(&opts.Relax, "relax", false, "write a startup probe whose budget is at least 2 × probes.margin × the expected start (journaled, undoable)")
	cmd.Flags().DurationVar(&opts.ExpectedStart, "expected-start", 0, "the expected start time instead of measuring the read rate (0: measure)")
	cmd.Flags().StringVar(&opts.Preset, "preset", opts.Preset, "threshold preset, as doctor's: "+strings.Join(health.PresetNames(), ", "))
	cmd.Flags().StringArrayVar(&opts.Overrides, "set", opts.Overrides, "override one threshold, key=value, as doctor's (e.g. probes.margin=2x; repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("preset", cobra.FixedCompletions(health.PresetNames(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// ProbesView is the report with the next step.
type ProbesView struct {
	*bg.ProbesReport
	Next string `json:"next,omitempty"`
	Undo string `json:"undo,omitempty"`
}

func RunProbes(ctx context.Context, opts *ProbesOptions) error {
	l, j, err := opts.Layout.resolve()
	if err != nil {
		return err
	}
	next := nextStep{layout: opts.Layout}
	// The advice runs as printed: with this run's layout flags and its
	// --expected-start, or --relax would measure instead and may find
	// nothing to do.
	relax := []string{"breakglass", "probes", "--relax"}
	if opts.ExpectedStart > 0 {
		relax = append(relax, "--expected-start", opts.ExpectedStart.String())
	}
	relax = append(relax, health.CarryArgs(opts.Preset, opts.Overrides, "probes.")...)
	t, err := health.Resolve(opts.Preset, opts.Overrides)
	if err != nil {
		return cmdutil.UsageError(err)
	}
	o := bg.ProbesOptions{ExpectedStart: opts.ExpectedStart, Relax: next.command(relax...), Thresholds: t}
	if !opts.Relax {
		r, _, err := bg.Probes(l, o)
		if err != nil {
			return err
		}
		v := &ProbesView{ProbesReport: r}
		if r.Relaxed != nil {
			v.Next = o.Relax
		}
		if err := step.Render(opts.IO, opts.Format(), v); err != nil {
			return err
		}
		if !r.Enough {
			return cmdutil.Outcome(health.Warn)
		}
		return nil
	}
	s := step.Step[*ProbesView]{
		Exclusive: l.Exclusive,
		Plan: func(context.Context) (step.Plan[*ProbesView], error) {
			r, _, err := bg.Probes(l, o)
			if err != nil {
				return step.Plan[*ProbesView]{}, err
			}
			p := step.Plan[*ProbesView]{Preview: &ProbesView{ProbesReport: r}, Question: "Write the relaxed startup probe into " + r.Manifest + "?"}
			if r.Relaxed != nil {
				p.Changes = []step.Change{{Action: "write", Target: r.Manifest, Line: fmt.Sprintf("startupProbe failureThreshold %d × period %ds (+%ds): %.0fs", r.Relaxed.FailureThreshold, r.Relaxed.Period, r.Relaxed.InitialDelay, r.Relaxed.BudgetSeconds)}}
			}
			return p, nil
		},
		Apply: func(context.Context) (*ProbesView, error) {
			r, err := bg.RelaxProbes(l, j, o)
			if r == nil {
				return nil, err
			}
			v := &ProbesView{ProbesReport: r}
			if r.Edit != nil {
				v.Undo = next.command("breakglass", "undo")
			}
			return v, err
		},
	}
	_, err = step.Run(ctx, opts.Confirmation.options(opts.IO, opts.Format()), s)
	return err
}

func (v *ProbesView) Table(io *iostreams.IOStreams) error {
	r := v.ProbesReport
	rate := "given"
	if r.ReadBytesPerSecond > 0 {
		rate = humanize.IBytes(uint64(r.ReadBytesPerSecond)) + "/s read"
	}
	fmt.Fprintf(io.Out, "%s: db %s, WAL %s, %s: expected start %.0fs.\n", r.DataDir, humanize.IBytes(uint64(r.DBBytes)), humanize.IBytes(uint64(r.WALBytes)), rate, r.ExpectedStartSeconds)
	t := output.NewTable(io.Out, io.IsStdoutTTY(), "PROBE", "PATH", "INITIAL DELAY", "PERIOD", "FAILURES", "BUDGET")
	row := func(name string, b bg.ProbeBudget) {
		if !b.Present {
			t.Row(name, "-", "-", "-", "-", "none")
			return
		}
		t.Row(name, b.Path, fmt.Sprintf("%ds", b.InitialDelay), fmt.Sprintf("%ds", b.Period), fmt.Sprint(b.FailureThreshold), fmt.Sprintf("%.0fs", b.BudgetSeconds))
	}
	row("liveness", r.Liveness)
	row("startup", r.Startup)
	if r.Relaxed != nil {
		name := "startup (relaxed)"
		if r.Edit == nil {
			name = "startup (--relax)"
		}
		row(name, *r.Relaxed)
	}
	if err := t.Render(); err != nil {
		return err
	}
	// The finding health judged: the same doctor reports.
	finding := strings.ToUpper(r.Finding[:1]) + r.Finding[1:]
	if r.Enough {
		fmt.Fprintln(io.Out, finding+".")
	} else {
		fmt.Fprintf(io.Out, "%s: %s.\n", finding, r.Check.Explanation)
	}
	if r.Edit != nil {
		fmt.Fprintf(io.Out, "Written (journal #%d); the original is %s.\n", r.Edit.Seq, r.Edit.Backup)
	}
	printNext(io, v.Next, v.Undo)
	return nil
}
