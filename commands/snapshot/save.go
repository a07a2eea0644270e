package snapshot

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/humanize"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	snap "github.com/etcdmedic/etcdmedic/snapshot"
)

type SaveOptions struct {
	IO          *iostreams.IOStreams
	OpenCluster func() (*cluster.Cluster, error)
	Format      func() output.Format

	Save        snap.SaveOptions
	Prune       snap.Policy
	MetricsFile string
	Now         func() time.Time
	Remote      RemoteFlags
}

// SaveReport is the JSON output of save (a contract).
type SaveReport struct {
	Save  *snap.SaveResult  `json:"save"`
	Prune *snap.PruneResult `json:"prune,omitempty"`
	Error string            `json:"error,omitempty"`
}

func NewCmdSave(f *cmdutil.Factory, runF func(context.Context, *SaveOptions) error) *cobra.Command {
	opts := &SaveOptions{IO: f.IOStreams, OpenCluster: f.OpenCluster, Format: f.Format, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "save [DIR|FILE]",
		Short: "Save a verified snapshot from a healthy, caught-up member",
		Long: `Stream a snapshot from exactly one member, a follower by default so the leader is not
loaded: the healthiest follower whose applied index is within --max-lag of the leader's
commit index (learners and members with a CORRUPT alarm never qualify). If no follower
qualifies, the leader is used. With quorum lost the freshest reachable member is used:
a snapshot is served locally and needs no quorum.

The stream goes to a temporary file (.etcdmedic-snapshot-*.part) in the target directory.
It is checked against the sha256 etcd appends (hashed while it streams), then bolt's
consistency check runs over its structure and reads the revision and live keys while
the file is fsynced, and only then is it renamed to
etcd-<clusterID>-<revision>-<UTC time>.db (.db.zst with --compress), with
<file>.meta.json beside it. A failure at any point leaves nothing under a final name;
temporary files of a run that was killed are removed by the next run.

DIR (default: the current directory) gets the generated name; a FILE path that does
not exist yet is used as is. Existing files are never overwritten.

For a scheduled job, add --prune-keep-* to apply retention after a successful save (the
same rules as 'etcdmedic snapshot prune', deleting for real), -o json, and --metrics-file
for node_exporter's textfile collector. See docs/snapshot-schedule.md.

The stream has no overall deadline (large databases take minutes); it is aborted when no
data arrives for --stall-timeout. With --to, a connection to the storage that moves nothing
for that long fails too (after the SDK's retries), so a hung endpoint ends the job.

Exit codes: 0 saved (and pruned); 1 saved, but retention failed or found a snapshot
that changed since it was verified or is dated in the future; 2 the save or its
verification failed; 3 no member reachable or auth refused; 4 no member qualifies as
the source, or the target file exists; 64 usage error, or the target or --metrics-file directory is
missing or not writable (checked before connecting).`,
		Example: `  # into /var/backups/etcd, from a follower
  etcdmedic snapshot save /var/backups/etcd

  # compressed, from a named member
  etcdmedic snapshot save /var/backups/etcd --compress --from m2

  # nightly job: save, keep 7 daily and 4 weekly, report to node_exporter
  etcdmedic snapshot save /var/backups/etcd --prune-keep-daily 7 --prune-keep-weekly 4 \
    --metrics-file /var/lib/node_exporter/textfile/etcd_snapshot.prom -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Save.Target = args[0]
			}
			if err := validatePolicy(opts.Prune); err != nil {
				return err
			}
			// ≤ 0 would fall back to --command-timeout: a value that says
			// "never stall" or "-1s" must not quietly mean something else.
			if opts.Save.From == "" {
				return cmdutil.UsageError(fmt.Errorf("--from is empty: give %q, %q, or a member ID or name", snap.FromFollower, snap.FromLeader))
			}
			if opts.Save.StallTimeout <= 0 {
				return cmdutil.UsageError(fmt.Errorf("--stall-timeout must be positive, got %s", opts.Save.StallTimeout))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			if err := opts.Remote.validate(); err != nil {
				return err
			}
			if opts.Remote.To != "" {
				return RunSaveRemote(cmd.Context(), opts)
			}
			return RunSave(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.Save.From, "from", snap.FromFollower, `source member: "follower", "leader", or a member ID or name`)
	fs.Uint64Var(&opts.Save.MaxLag, "max-lag", snap.DefaultMaxLag, "raft entries a member's applied index may trail the leader's commit index and still be caught up")
	fs.BoolVar(&opts.Save.Compress, "compress", false, "store zstd-compressed (.db.zst); verify and restore decompress transparently")
	fs.DurationVar(&opts.Save.StallTimeout, "stall-timeout", 30*time.Second, "abort when the stream (or, with --to, a storage connection) moves nothing for this long")
	fs.StringVar(&opts.MetricsFile, "metrics-file", "", "write a Prometheus textfile (atomically) with the run's outcome")
	policyFlags(cmd, &opts.Prune, "prune-")
	remoteFlags(cmd, &opts.Remote)
	return cmd
}

func RunSave(ctx context.Context, opts *SaveOptions) error {
	start := opts.Now()
	format := opts.Format()
	prog := newProgress(opts.IO)
	opts.Save.Progress = prog.update
	opts.Save.Now = opts.Now

	// What the run will write to is checked before it connects: a missing
	// directory found after the stream is a member loaded for nothing, and
	// a metrics file that fails last hides that the run happened at all.
	if err := snap.CheckTarget(opts.Save.Target, opts.Save.Compress); err != nil {
		return err
	}
	if opts.MetricsFile != "" {
		if err := snap.CheckMetricsFile(opts.MetricsFile); err != nil {
			return err
		}
	}

	report := &SaveReport{}
	err := func() error {
		c, err := opts.OpenCluster()
		if err != nil {
			return err
		}
		defer c.Close()
		report.Save, err = snap.Save(ctx, c, opts.Save)
		prog.done()
		return err
	}()
	err = classify(err)

	dir := opts.Save.Target
	if report.Save != nil {
		dir = filepath.Dir(report.Save.Path)
	} else if dir == "" {
		dir = "."
	}
	pruneFailed := false
	if err == nil && !opts.Prune.Empty() {
		report.Prune, err = snap.Prune(ctx, dir, opts.Prune, opts.Now(), false, report.Save.Path)
		switch {
		case err != nil:
			pruneFailed = true
			err = fault.Mark(err, fault.Partial)
		case report.Prune != nil && len(report.Prune.Warnings) > 0:
			// The snapshot is saved; what retention found needs a person.
			err = fault.Mark(fmt.Errorf("prune: %s", report.Prune.Warnings[0]), fault.Partial)
		}
	}
	if opts.MetricsFile != "" {
		entries, _ := snap.List(dir, opts.Now())
		justSaved := ""
		if report.Save != nil {
			justSaved = report.Save.Path
		}
		// The metric says when the last good snapshot was taken: it must
		// not be one whose file has changed since it was verified.
		for _, w := range snap.RecheckNewest(ctx, entries, justSaved) {
			fmt.Fprintf(opts.IO.ErrOut, "Warning: %s\n", w)
		}
		m := snap.RunMetrics{Success: report.Save != nil, Finished: opts.Now(), Duration: opts.Now().Sub(start), Save: report.Save, PruneFailed: pruneFailed, Dir: entries}
		if report.Prune != nil {
			m.Pruned = len(report.Prune.Deleted)
		}
		err = writeRunMetrics(opts.IO, opts.MetricsFile, m, err)
	}
	if err != nil {
		report.Error = cmdutil.Message(err)
	}
	if format.Machine() {
		if werr := output.Write(opts.IO.Out, format, report); werr != nil {
			return werr
		}
	} else if report.Save != nil {
		renderSave(opts.IO, report)
	}
	return err
}

func renderSave(io *iostreams.IOStreams, r *SaveReport) {
	s, m, p := r.Save, r.Save.Metadata, io.Palette()
	fmt.Fprintf(io.Out, "%s %s\n", p.Good.Render("saved"), s.Path)
	fmt.Fprintf(io.Out, "  revision %d, %d keys, raft index %d, %s (database %s), sha256 %s\n",
		m.Revision, m.TotalKeys, m.RaftIndex, humanize.Bytes(m.Size), humanize.Bytes(m.DBSize), m.SHA256)
	fmt.Fprintf(io.Out, "  from %s (%s, etcd %s): %s\n", s.Source.Name, s.Source.MemberID, m.EtcdVersion, s.Source.Reason)
	// The rate is of the bytes and the time printed beside it, so that
	// rate × time reads as the size; the whole save's time comes after.
	fmt.Fprintf(io.Out, "  streamed %s in %s at %s/s; saved in %s\n", humanize.Bytes(m.DBSize),
		humanize.Seconds(s.StreamSeconds), humanize.Bytes(int64(s.BytesPerSecond)), humanize.Seconds(s.DurationSeconds))
	for _, t := range s.CleanedUp {
		fmt.Fprintf(io.Out, "  removed leftover %s\n", t)
	}
	if r.Prune != nil {
		for _, d := range r.Prune.Deleted {
			fmt.Fprintf(io.Out, "  pruned %s\n", d)
		}
		for _, w := range r.Prune.Warnings {
			fmt.Fprintf(io.Out, "  %s %s\n", p.Warn.Render("!"), w)
		}
	}
}

// progress draws one self-overwriting line on a terminal's stderr.
type progress struct {
	w    io.Writer
	on   bool
	mu   sync.Mutex
	t0   time.Time
	last time.Time
	drew bool
}

func newProgress(ios *iostreams.IOStreams) *progress {
	return &progress{w: ios.ErrOut, on: ios.IsStderrTTY(), t0: time.Now()}
}

func (p *progress) update(received, total int64) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last, p.drew = now, true
	rate := float64(received) / now.Sub(p.t0).Seconds()
	pct := ""
	if total > 0 {
		pct = fmt.Sprintf(" (%s)", humanize.Percent(float64(received)/float64(total)))
	}
	fmt.Fprintf(p.w, "\r\033[Ksnapshot: %s of %s%s, %s/s", humanize.Bytes(received), humanize.Bytes(total), pct, humanize.Bytes(int64(rate)))
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drew {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// writeRunMetrics writes the run's textfile and returns the run's error: a
// textfile that cannot be written makes a good run partial (exit 1) and is
// printed beside a failed one.
func writeRunMetrics(io *iostreams.IOStreams, path string, m snap.RunMetrics, err error) error {
	merr := snap.WriteMetricsFile(path, m)
	if merr == nil {
		return err
	}
	merr = fmt.Errorf("metrics file: %w", merr)
	if err == nil {
		return fault.Mark(merr, fault.Partial)
	}
	fmt.Fprintf(io.ErrOut, "Error: %s\n", merr)
	return err
}
