package breakglass

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/humanize"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	"github.com/etcdmedic/etcdmedic/internal/step"
)

type PurgeOptions struct {
	IO          *iostreams.IOStreams
	OpenCluster func() (*cluster.Cluster, error)
	Format      func() output.Format
	Connection  func() []string // flags for the next steps printed
	Layout      LayoutFlags

	Prefix     string
	Phases     string
	Namespaces []string
	Selector   string
	OlderThan  string
	Nodes      []string
	OwnerKinds []string
	Rate       float64
	PageSize   int
	Archive    string
	Confirmation

	// BeforeDelete is a test hook between the read and the first delete.
	BeforeDelete func(ctx context.Context) error
}

func NewCmdPurgePods(f *cmdutil.Factory, runF func(context.Context, *PurgeOptions) error) *cobra.Command {
	opts := &PurgeOptions{IO: f.IOStreams, OpenCluster: f.OpenCluster, Format: f.Format, Connection: connectionOf(f)}
	cmd := &cobra.Command{
		Use:   "purge-pods",
		Short: "Delete stale pods straight from etcd: dry-run first, guarded, archived, undoable",
		Long: `Delete stale pods straight from etcd, for when the apiserver cannot stay up long
enough to do it.

Reads <prefix>/pods/ (note the trailing slash: "/registry/pods" alone also matches
other resources) in pages at one pinned revision, decodes each value (the k8s\x00
protobuf envelope) and keeps the pods that match every filter: --phase (default
Succeeded,Failed), --namespace, --selector (label selector syntax), --older-than (by
creation time; 36h, 7d), --node, --owner-kind. Only keys of the exact shape
<prefix>/pods/<namespace>/<name> are considered; encrypted (k8s:enc:) and undecodable
values are skipped and counted, never deleted by guess.

First it counts, changing nothing: per namespace and phase, sample keys, bytes to
free; --dry-run stops there, a terminal asks, anything else without --yes stops with
exit 4. With --yes it first writes every matching key and value to an archive file
(atomically, mode 0600, in --state-dir), journals it, then deletes in transactions of
at most 128 keys, each delete conditional on the ModRevision that was read: a pod
changed since is left alone and counted. Never a range delete. Paced by --rate keys/s
(0: unlimited). 'breakglass undo --pods' puts the archived pods back where the key
does not exist now.

Suspend the controllers that own these pods first, or they are created again.`,
		Example: `  etcdmedic breakglass purge-pods --dry-run            # what would go
  etcdmedic breakglass purge-pods --namespace ci --older-than 2d --owner-kind Job --yes
  etcdmedic breakglass purge-pods --selector 'app=runner' --rate 500 --yes -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunPurge(cmd.Context(), opts)
		},
	}
	opts.Layout.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&opts.Prefix, "etcd-prefix", "/registry", "the apiserver's --etcd-prefix")
	fs.StringVar(&opts.Phases, "phase", "Succeeded,Failed", "pod phases to purge, comma-separated")
	fs.StringSliceVar(&opts.Namespaces, "namespace", nil, "only these namespaces")
	fs.StringVarP(&opts.Selector, "selector", "l", "", "label selector (app=x,tier!=web)")
	fs.StringVar(&opts.OlderThan, "older-than", "", "only pods created longer ago than this (90m, 36h, 7d)")
	fs.StringSliceVar(&opts.Nodes, "node", nil, "only pods on these nodes")
	fs.StringSliceVar(&opts.OwnerKinds, "owner-kind", nil, "only pods owned by these kinds (Job, ReplicaSet, ...)")
	fs.Float64Var(&opts.Rate, "rate", 1000, "keys deleted per second at most; 0 unlimited")
	fs.IntVar(&opts.PageSize, "page-size", 500, "keys per range read")
	fs.StringVar(&opts.Archive, "archive", "", "archive file (default: <state-dir>/purge-<time>.archive)")
	opts.Confirmation.register(cmd, "only count what would go")
	return cmd
}

func (opts *PurgeOptions) filter() (bg.PodFilter, error) {
	phases, err := bg.ParsePhases(opts.Phases)
	if err != nil {
		return bg.PodFilter{}, &cmdutil.FlagError{Err: fmt.Errorf("--phase: %w", err)}
	}
	sel, err := bg.ParseSelector(opts.Selector)
	if err != nil {
		return bg.PodFilter{}, &cmdutil.FlagError{Err: fmt.Errorf("--selector: %w", err)}
	}
	age, err := ParseAge(opts.OlderThan)
	if err != nil {
		return bg.PodFilter{}, &cmdutil.FlagError{Err: err}
	}
	if err := finite("rate", opts.Rate, 0, false); err != nil {
		return bg.PodFilter{}, err
	}
	if err := intIn("page-size", opts.PageSize, 1, maxPageSize); err != nil {
		return bg.PodFilter{}, err
	}
	if strings.Trim(opts.Prefix, "/") == "" {
		return bg.PodFilter{}, &cmdutil.FlagError{Err: fmt.Errorf("--etcd-prefix must not be empty")}
	}
	return bg.PodFilter{Phases: phases, Namespaces: opts.Namespaces, Selector: sel, OlderThan: age, Nodes: opts.Nodes, OwnerKinds: opts.OwnerKinds}, nil
}

// PurgeResult is the purge report, planned (dryRun) or done, with the
// commands to run next.
type PurgeResult struct {
	*bg.PurgeReport
	Next string `json:"next,omitempty"`
	Undo string `json:"undo,omitempty"`
	// counts: the table shows the counts (a dry run, or --yes where no plan
	// was shown first), not only the outcome.
	counts bool
}

func RunPurge(ctx context.Context, opts *PurgeOptions) error {
	filter, err := opts.filter() // flags first: bad input touches nothing
	if err != nil {
		return err
	}
	l, j, err := opts.Layout.resolve()
	if err != nil {
		return err
	}
	if opts.Archive != "" {
		// Before etcd is read and anything asked: the purge would refuse.
		if _, err := os.Lstat(opts.Archive); err == nil {
			return cmdutil.UsageError(fmt.Errorf("--archive %s: %w", opts.Archive, bg.ErrArchiveExists))
		}
	}
	// One connection for the plan and the purge.
	var c *cluster.Cluster
	open := func() (*cluster.Cluster, error) {
		if c != nil {
			return c, nil
		}
		var oerr error
		c, oerr = opts.OpenCluster()
		return c, oerr
	}
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	next := nextStep{layout: opts.Layout, conn: opts.Connection}
	po := bg.PurgeOptions{Prefix: opts.Prefix, Filter: filter, PageSize: opts.PageSize, Rate: opts.Rate, BeforeDelete: opts.BeforeDelete}
	prog := newProgress(opts.IO)
	po.Progress = prog.report
	s := step.Step[*PurgeResult]{
		Exclusive: l.Exclusive,
		// With --yes the one read that fills the archive is also the
		// report: reading everything twice would double the load on a
		// struggling etcd.
		Direct: true,
		Plan: func(ctx context.Context) (step.Plan[*PurgeResult], error) {
			c, err := open()
			if err != nil {
				return step.Plan[*PurgeResult]{}, err
			}
			dry := po
			dry.DryRun = true
			rep, err := bg.Purge(ctx, c, dry)
			prog.done()
			if err != nil {
				return step.Plan[*PurgeResult]{}, err
			}
			p := step.Plan[*PurgeResult]{Question: fmt.Sprintf("Delete these %d pods from etcd?", rep.Matched), Preview: &PurgeResult{PurgeReport: rep, counts: true}}
			for _, g := range rep.Groups {
				p.Changes = append(p.Changes, step.Change{Action: "delete", Target: bg.PodsPrefix(rep.Prefix) + g.Namespace + "/",
					Line: fmt.Sprintf("delete %d %s pods in %s (%s)", g.Pods, g.Phase, g.Namespace, humanize.Bytes(g.Bytes))})
			}
			return p, nil
		},
		Apply: func(ctx context.Context) (*PurgeResult, error) {
			c, err := open()
			if err != nil {
				return nil, err
			}
			run := po
			run.Archive = opts.Archive
			rep, err := bg.PurgeJournaled(ctx, c, l, j, run)
			prog.done()
			if rep == nil {
				return nil, err
			}
			res := &PurgeResult{PurgeReport: rep, counts: opts.Yes}
			if rep.Archive != "" {
				res.Undo = next.command("breakglass", "undo", "--pods")
			}
			if rep.Deleted > 0 {
				res.Next = next.command("defrag", "--compact")
			}
			return res, err
		},
	}
	_, err = step.Run(ctx, opts.Confirmation.options(opts.IO, opts.Format()), s)
	return err
}

func (r *PurgeResult) Table(io *iostreams.IOStreams) error {
	if r.counts {
		renderPurge(io, r.PurgeReport)
	}
	if r.DryRun {
		return nil
	}
	rep := r.PurgeReport
	fmt.Fprintf(io.Out, "\nDeleted %d pods (%d changed since read, left alone) in %s", rep.Deleted, rep.Changed, humanize.Seconds(rep.Seconds))
	if rep.Archive != "" {
		fmt.Fprintf(io.Out, "; archive %s", rep.Archive)
	}
	fmt.Fprintln(io.Out)
	if r.Next != "" {
		fmt.Fprintf(io.Out, "Next: %s   # gives the space back\n", r.Next)
	}
	printNext(io, "", r.Undo)
	return nil
}

func renderPurge(io *iostreams.IOStreams, rep *bg.PurgeReport) {
	out := io.Out
	fmt.Fprintf(out, "Read %d keys under %s at revision %d: %d pods match (%s to free).\n",
		rep.Scanned, bg.PodsPrefix(rep.Prefix), rep.Revision, rep.Matched, humanize.Bytes(rep.BytesToFree))
	if rep.Encrypted+rep.Undecodable+rep.BadKeys > 0 {
		fmt.Fprintf(out, "Skipped, never deleted: %d encrypted, %d undecodable, %d keys not <prefix>/pods/<ns>/<name>.\n", rep.Encrypted, rep.Undecodable, rep.BadKeys)
	}
	if len(rep.Groups) > 0 {
		t := output.NewTable(out, io.IsStdoutTTY(), "NAMESPACE", "PHASE", "PODS", "BYTES")
		for i, g := range rep.Groups {
			if i == 20 {
				t.Row("…", "", fmt.Sprintf("%d more groups", len(rep.Groups)-20), "")
				break
			}
			t.Row(g.Namespace, g.Phase, strconv.Itoa(g.Pods), humanize.Bytes(g.Bytes))
		}
		_ = t.Render()
	}
	for _, k := range rep.SampleKeys {
		fmt.Fprintf(out, "  e.g. %s\n", k)
	}
}

// progress prints keys/s and ETA on a terminal, at most five times a second.
type progress struct {
	io    *iostreams.IOStreams
	mu    sync.Mutex
	last  time.Time
	shown bool
}

func newProgress(io *iostreams.IOStreams) *progress { return &progress{io: io} }

func (p *progress) report(pr bg.Progress) {
	if !p.io.IsStderrTTY() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last, p.shown = time.Now(), true
	rate := float64(pr.Done) / pr.Elapsed.Seconds()
	line := fmt.Sprintf("%s: %d keys, %.0f keys/s", pr.Stage, pr.Done, rate)
	if pr.Total > 0 && rate > 0 {
		line += fmt.Sprintf(", %d%%, ETA %s", pr.Done*100/pr.Total, humanize.Duration(time.Duration(float64(pr.Total-pr.Done)/rate*float64(time.Second))))
	}
	fmt.Fprintf(p.io.ErrOut, "\r\033[K%s", line)
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.io.ErrOut, "\r\033[K")
		p.shown = false
	}
}
