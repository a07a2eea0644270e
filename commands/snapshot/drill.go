package snapshot

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/humanize"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	snap "github.com/etcdmedic/etcdmedic/snapshot"
)

// DrillOptions are drill's flags.
type DrillOptions struct {
	IO     *iostreams.IOStreams
	Format func() output.Format

	Source       string
	Identity     string
	TempDir      string
	MetricsFile  string
	StartTimeout time.Duration
	EtcdBinary   string
	// EtcdutlBinary restores with this etcdutl (see the restore command).
	EtcdutlBinary string
	Now           func() time.Time
}

// NewDrillOptions holds drill's defaults.
func NewDrillOptions() *DrillOptions {
	return &DrillOptions{Source: ".", StartTimeout: 2 * time.Minute, Now: time.Now}
}

func NewCmdDrill(f *cmdutil.Factory, runF func(context.Context, *DrillOptions) error) *cobra.Command {
	opts := NewDrillOptions()
	opts.IO, opts.Format = f.IOStreams, f.Format
	cmd := &cobra.Command{
		Use:   "drill [URL | URL/NAME | DIR | FILE]",
		Short: "Prove a snapshot restores: restore it into a throwaway member, start it, compare",
		Long: `Take the newest verified snapshot at a destination URL or in a directory (or the one
named), download it (decrypting it with --identity) while checking its size and sha256
against its metadata, restore it into a temporary data dir (etcdutl's restore, which
checks etcd's appended sha256), start an etcd member on it on free loopback ports (a
child process running the etcd server built into etcdmedic, or --etcd-binary; the
release build, without the server, runs the etcd beside etcdmedic, else on PATH, and
restores with etcd's own etcdutl found the same way or --etcdutl-binary), and
compare the member's revision, live key count and HashKV with what the snapshot's
metadata recorded. The member is then stopped and everything removed. No cluster is
contacted.

--metrics-file records etcdmedic_snapshot_last_drill_success_timestamp_seconds (kept
from the previous file when this drill fails) and the restore and start times, so
"no successful drill for N days" can alert.

Exit codes: 0 restored, started and everything matched; 1 the snapshot is encrypted and
no --identity was given; 2 corrupted, did not restore or start, or a figure differs;
3 the destination cannot be reached or authenticated to, or the identity matches none
of the recipients; 64 usage error, no such destination or snapshot.`,
		Example: `  # weekly: the newest snapshot in the bucket
  etcdmedic snapshot drill 's3://backups/etcd?region=eu-west-1' --identity /etc/etcdmedic/age.key \
    --metrics-file /var/lib/node_exporter/textfile/etcd_drill.prom

  etcdmedic snapshot drill /var/backups/etcd`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Source = args[0]
			}
			if opts.StartTimeout <= 0 {
				return cmdutil.UsageError(fmt.Errorf("--start-timeout must be positive, got %s", opts.StartTimeout))
			}
			if opts.EtcdBinary != "" {
				if fi, err := os.Stat(opts.EtcdBinary); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
					return cmdutil.UsageError(fmt.Errorf("--etcd-binary %s is not an executable file", opts.EtcdBinary))
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunDrill(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.Identity, "identity", "", "age identity file to decrypt an encrypted snapshot")
	fs.StringVar(&opts.TempDir, "temp-dir", "", "where the download and the throwaway member live (default: the system temp dir)")
	fs.StringVar(&opts.MetricsFile, "metrics-file", "", "write a Prometheus textfile (atomically) with the drill's outcome")
	fs.DurationVar(&opts.StartTimeout, "start-timeout", opts.StartTimeout, "how long the restored member may take to start")
	fs.StringVar(&opts.EtcdutlBinary, "etcdutl-binary", "", "restore with this etcdutl binary (default: etcdutl's code built in; in the release build, the etcdutl beside etcdmedic, else on PATH)")
	_ = cmd.MarkFlagFilename("etcdutl-binary")
	fs.StringVar(&opts.EtcdBinary, "etcd-binary", "", "run the restored member with this etcd binary (default: the etcd server built in; in a slim build, etcd on PATH)")
	return cmd
}

func RunDrill(ctx context.Context, opts *DrillOptions) error {
	ids, err := snap.ReadIdentities(opts.Identity)
	if err != nil {
		return err
	}
	if opts.MetricsFile != "" {
		if err := snap.CheckMetricsFile(opts.MetricsFile); err != nil {
			return err
		}
	}
	res, err := snap.Drill(ctx, snap.DrillOptions{Source: opts.Source, Fetch: snap.FetchOptions{Identities: ids},
		TempDir: opts.TempDir, StartTimeout: opts.StartTimeout, EtcdBinary: opts.EtcdBinary,
		EtcdutlBinary: opts.EtcdutlBinary, Now: opts.Now})
	err = classify(err)
	if opts.MetricsFile != "" {
		if res != nil && res.Finished.IsZero() {
			res.Finished = opts.Now()
		}
		if merr := snap.WriteDrillMetrics(opts.MetricsFile, res); merr != nil {
			merr = fmt.Errorf("metrics file: %w", merr)
			if err == nil {
				err = fault.Mark(merr, fault.Partial)
			} else {
				fmt.Fprintf(opts.IO.ErrOut, "Error: %s\n", merr)
			}
		}
	}
	if f := opts.Format(); f.Machine() {
		if res != nil {
			if werr := output.Write(opts.IO.Out, f, res); werr != nil {
				return werr
			}
		}
		return err
	}
	// A drill that found no snapshot to take has nothing to report but the error.
	if res != nil && fault.Kind(err) != fault.Invalid {
		renderDrill(opts.IO, res)
	}
	return err
}

func renderDrill(io *iostreams.IOStreams, r *snap.DrillResult) {
	p := io.Palette()
	verdict := p.Good.Render("drill passed")
	if !r.Matched {
		verdict = p.Bad.Render("DRILL FAILED")
	}
	fmt.Fprintf(io.Out, "%s: %s\n", verdict, r.Snapshot)
	if r.Verify != nil {
		for _, pr := range r.Verify.Problems {
			fmt.Fprintf(io.Out, "  %s %s\n", p.Bad.Render("!"), pr)
		}
	}
	if r.StartSeconds > 0 {
		// A local save records no source HashKV (it would read the
		// member's whole keyspace once more); the sha256 carried the bytes.
		source := fmt.Sprintf("source %08x", r.ExpectedHashKV)
		if r.ExpectedHashKV == 0 {
			source = "the source's not recorded"
		}
		fmt.Fprintf(io.Out, "  revision %d (metadata %d), %d keys (metadata %d), HashKV %08x (%s)\n",
			r.Revision, r.ExpectedRevision, r.TotalKeys, r.ExpectedKeys, r.HashKV, source)
		fmt.Fprintf(io.Out, "  download and verify %s, restore %s, start %s, compare %s, total %s\n", humanize.Seconds(r.DownloadSeconds),
			humanize.Seconds(r.RestoreSeconds), humanize.Seconds(r.StartSeconds), humanize.Seconds(r.CompareSeconds), humanize.Seconds(r.TotalSeconds))
	}
	for _, pr := range r.Problems {
		fmt.Fprintf(io.Out, "  %s %s\n", p.Bad.Render("!"), pr)
	}
}
