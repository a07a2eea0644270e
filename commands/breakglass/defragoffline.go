package breakglass

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/etcdbin"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	"github.com/etcdmedic/etcdmedic/internal/step"
)

type DefragOfflineOptions struct {
	IO     *iostreams.IOStreams
	Format func() output.Format
	Layout LayoutFlags
	Confirmation
	DataDir       string
	EtcdutlBinary string
	Timeout       time.Duration
	Logger        func() *slog.Logger
}

func NewCmdDefragOffline(f *cmdutil.Factory, runF func(context.Context, *DefragOfflineOptions) error) *cobra.Command {
	opts := &DefragOfflineOptions{IO: f.IOStreams, Format: f.Format, Timeout: bg.DefaultDefragTimeout,
		Logger: func() *slog.Logger { return f.Logger }}
	cmd := &cobra.Command{
		Use:   "defrag-offline [--data-dir DIR]",
		Short: "Defragment a stopped member's bolt file (etcdutl's defrag), backed up first",
		Long: `A member whose bolt file is so bloated that it cannot start inside its probes is
defragmented offline, with etcd stopped: etcdutl's defrag on its data dir (the
copy of the live data into a temp file beside the db, renamed over it).

First, changing nothing: the file's size and bytes in use, and the free space the
defrag's temp file needs (the bytes in use; plus the whole file when the backup must
be a copy). Refused (exit 4) on a dir whose bolt file a running etcd holds (its file
lock, not waited on) or without that space. Then the file as it was is kept in
<state-dir>/backups/defrag-offline-<time>/ — as a hard link plus its two meta pages
when the state dir is on the db's filesystem (the defrag renames a new file over the
db, so the old one stays whole), else as a copy with its sha256 (SHA256SUMS, read back
to verify) — journaled, and defragmented; before and after sizes are shown.

--data-dir is the node path of the data dir (under --root); by default the
--data-dir of the etcd static-pod manifest. 'breakglass undo' puts the backup back
as long as etcd has applied nothing to the file since; the backup is kept until you
remove it.

The release build runs etcd's own etcdutl ('etcdutl defrag --data-dir DIR', killed
after --timeout): --etcdutl-binary, else the etcdutl beside etcdmedic (the release
archive and image ship it), else on PATH; none is a usage error (exit 64). The full
build uses etcdutl's code built in, or --etcdutl-binary when given.`,
		Example: `  etcdmedic breakglass defrag-offline --dry-run
  etcdmedic breakglass defrag-offline --data-dir /var/lib/etcd --yes
  etcdmedic breakglass defrag-offline --root /mnt/cp-2 --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Timeout <= 0 {
				return cmdutil.UsageError(fmt.Errorf("--timeout must be positive, got %s", opts.Timeout))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunDefragOffline(cmd.Context(), opts)
		},
	}
	opts.Layout.register(cmd)
	opts.Confirmation.register(cmd, "only check and show what would be done")
	cmd.Flags().StringVar(&opts.DataDir, "data-dir", "", "the stopped member's data dir, as on the node (default: the etcd manifest's --data-dir)")
	_ = cmd.MarkFlagDirname("data-dir")
	cmd.Flags().StringVar(&opts.EtcdutlBinary, "etcdutl-binary", "", "defragment with this etcdutl binary (default: etcdutl's code built in; in the release build, the etcdutl beside etcdmedic, else on PATH)")
	_ = cmd.MarkFlagFilename("etcdutl-binary")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", opts.Timeout, "how long an etcdutl binary may defragment before it is killed (the file as it was stays)")
	return cmd
}

// DefragOfflineView is the plan or the outcome, with the next steps.
type DefragOfflineView struct {
	*bg.DefragOfflineReport
	Undo string `json:"undo,omitempty"`
}

func RunDefragOffline(ctx context.Context, opts *DefragOfflineOptions) error {
	l, j, err := opts.Layout.resolve()
	if err != nil {
		return err
	}
	dataDir := opts.DataDir
	if dataDir == "" {
		dd, err := bg.EtcdDataDir(l)
		if err != nil {
			return err
		}
		dataDir = l.Rel(dd)
	}
	// Before anything is planned or asked: no etcdutl is a usage error.
	bin, err := bg.FindDefragTool(opts.EtcdutlBinary)
	if err != nil {
		return err
	}
	var tool *etcdbin.Tool
	if bin != "" {
		tool = etcdbin.DescribeRun(ctx, "etcdutl", bin)
		if opts.Logger != nil {
			opts.Logger().Info("defrag-offline runs etcd's etcdutl", "path", tool.Path, "version", tool.Version)
		}
	}
	next := nextStep{layout: opts.Layout}
	s := step.Step[*DefragOfflineView]{
		Exclusive: l.Exclusive,
		Plan: func(context.Context) (step.Plan[*DefragOfflineView], error) {
			r, err := bg.PlanDefragOffline(l, dataDir)
			if err != nil {
				return step.Plan[*DefragOfflineView]{}, err
			}
			r.Etcdutl = tool
			return step.Plan[*DefragOfflineView]{
				Question: fmt.Sprintf("Back up and defragment %s (%s)?", r.DB, humanize.IBytes(uint64(r.Before.SizeBytes))),
				Preview:  &DefragOfflineView{DefragOfflineReport: r},
				Changes: []step.Change{
					{Action: "write", Target: r.BackupDir, Line: fmt.Sprintf("back up %s to %s", r.DB, r.BackupDir)},
					{Action: "defrag", Target: r.DB, Line: fmt.Sprintf("defragment %s (%s in use)", r.DB, humanize.IBytes(uint64(r.Before.InUseBytes)))},
				},
			}, nil
		},
		Apply: func(ctx context.Context) (*DefragOfflineView, error) {
			r, err := bg.DefragOfflineWith(ctx, l, j, dataDir, bg.DefragOfflineOptions{EtcdutlBinary: bin, Timeout: opts.Timeout})
			if r == nil {
				return nil, err
			}
			return &DefragOfflineView{DefragOfflineReport: r, Undo: next.command("breakglass", "undo")}, err
		},
	}
	_, err = step.Run(ctx, opts.Confirmation.options(opts.IO, opts.Format()), s)
	return err
}

func (v *DefragOfflineView) Table(io *iostreams.IOStreams) error {
	r := v.DefragOfflineReport
	fmt.Fprintf(io.Out, "%s: %s, %s in use (%.0f%% free pages).\n", r.DB, humanize.IBytes(uint64(r.Before.SizeBytes)), humanize.IBytes(uint64(r.Before.InUseBytes)), r.FragmentedPercent)
	if !r.Done {
		if r.JournalSeq != 0 {
			fmt.Fprintf(io.Out, "Backed up to %s (%s); the defrag did not finish.\n", r.BackupDir, backupKind(r.BackupMode, r.BackupSHA256))
		} else {
			fmt.Fprintf(io.Out, "Would back it up to %s (needs %s free) and defragment it.\n", r.BackupDir, humanize.IBytes(uint64(r.NeedBytes)))
		}
		printNext(io, "", v.Undo)
		return nil
	}
	fmt.Fprintf(io.Out, "Defragmented in %.1fs: %s -> %s (%.0f%% smaller).\n", r.TookSeconds, humanize.IBytes(uint64(r.Before.SizeBytes)), humanize.IBytes(uint64(r.After.SizeBytes)), r.ShrunkPercent)
	fmt.Fprintf(io.Out, "Backup: %s (%s), kept until you remove it.\n", r.BackupDir, backupKind(r.BackupMode, r.BackupSHA256))
	printNext(io, "start the member", v.Undo)
	return nil
}

// backupKind says how the file as it was is kept: a hard link (same
// filesystem: no digest was taken, nothing was copied) or a checked copy.
func backupKind(mode, sha256 string) string {
	if mode == "hardlink" {
		return "hard link to the file as it was, and its meta pages"
	}
	return "copy, sha256 " + sha256
}
