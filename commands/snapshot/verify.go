package snapshot

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/humanize"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	snap "github.com/etcdmedic/etcdmedic/snapshot"
)

type VerifyOptions struct {
	IO      *iostreams.IOStreams
	Format  func() output.Format
	Files   []string
	TempDir string
	// Identity is an age identity file for encrypted objects.
	Identity string
}

// VerifyReport is the JSON output of verify.
type VerifyReport struct {
	Snapshots []*snap.VerifyResult `json:"snapshots"`
}

// NewVerifyOptions holds verify's defaults.
func NewVerifyOptions() *VerifyOptions { return &VerifyOptions{} }

func NewCmdVerify(f *cmdutil.Factory, runF func(context.Context, *VerifyOptions) error) *cobra.Command {
	opts := NewVerifyOptions()
	opts.IO, opts.Format = f.IOStreams, f.Format
	cmd := &cobra.Command{
		Use:   "verify FILE|URL/NAME...",
		Short: "Check a snapshot: sha256 against its metadata, etcd's integrity hash, a full bolt read",
		Long: `Verify one or more snapshot files without a cluster:

  - against <file>.meta.json, when there is one, every field verify can recompute:
    size and sha256, the database's size and sha256, revision, live keys, raft index
    and term, storage version, compression, and the cluster, revision and time in the
    file name; any disagreement fails, whichever of the two was changed;
  - the sha256 etcd appends to every snapshot (catches a flipped byte or a truncation);
  - the database read in full, giving what 'etcdutl snapshot status' gives: bolt
    consistency check, revision, live keys, size, storage version, crc32 hash.

A .zst file is decompressed to a temporary file (--temp-dir) and checked the same way.
The bolt read runs beside the hash of the file; its figures count only when the hash
vouches for the content, and bolt's own consistency check waits for that verdict (a
file without etcd's hash: every page pointer is proven in bounds first).

Exit codes: 0 every file is good; 1 good, but a check could not be made (no metadata, or
no appended hash: a database copied from a data dir); 2 corrupted or truncated, or
its metadata disagrees with it (the message says what is wrong); 64 a file does not
exist.`,
		Example: `  etcdmedic snapshot verify /var/backups/etcd/etcd-3f2a4f4c2d6a3b1e-1234-20260101T000000Z.db
  etcdmedic snapshot verify /var/backups/etcd/*.db.zst -o json | jq '.snapshots[] | {file, revision, problems}'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunVerify(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.TempDir, "temp-dir", opts.TempDir, "where to decompress .zst snapshots (default: the system temp dir)")
	cmd.Flags().StringVar(&opts.Identity, "identity", "", "age identity file to decrypt encrypted snapshots (URL/NAME.age)")
	return cmd
}

func RunVerify(ctx context.Context, opts *VerifyOptions) error {
	report := VerifyReport{Snapshots: []*snap.VerifyResult{}}
	var kind error // the worst: fault.Failed for a corrupted file, else fault.Partial for a warning
	var firstErr error
	for _, f := range opts.Files {
		r, err := verifyAny(ctx, f, opts)
		if err != nil {
			if firstErr == nil {
				firstErr = classify(fmt.Errorf("verify: %w", err))
			}
			continue
		}
		report.Snapshots = append(report.Snapshots, r)
		switch {
		case !r.OK():
			kind = fault.Failed
		case len(r.Warnings) > 0 && kind == nil:
			kind = fault.Partial
		}
	}
	if format := opts.Format(); format.Machine() {
		if err := output.Write(opts.IO.Out, format, report); err != nil {
			return err
		}
	} else {
		renderVerify(opts.IO, report)
	}
	if firstErr != nil {
		return firstErr
	}
	for _, r := range report.Snapshots {
		if err := r.Err(); err != nil {
			// One line on stderr that says what is wrong (snap.ErrCorrupt, a
			// failure); the details are above.
			return err
		}
	}
	return fault.Reported(kind)
}

func renderVerify(io *iostreams.IOStreams, rep VerifyReport) {
	p := io.Palette()
	for _, r := range rep.Snapshots {
		verdict := p.Good.Render("ok")
		switch {
		case !r.OK():
			verdict = p.Bad.Render("CORRUPTED")
		case len(r.Warnings) > 0:
			verdict = p.Warn.Render("ok, with warnings")
		}
		fmt.Fprintf(io.Out, "%s: %s\n", r.File, verdict)
		fmt.Fprintf(io.Out, "  integrity hash %s, metadata %s, sha256 %s\n", r.Integrity, r.Metadata, r.SHA256)
		if r.Revision > 0 || r.TotalKeys > 0 {
			fmt.Fprintf(io.Out, "  revision %d, %d keys, database %s, raft index %d, storage version %s, hash %08x\n",
				r.Revision, r.TotalKeys, humanize.Bytes(r.TotalSize), r.RaftIndex, orDash(r.Version), r.Hash)
		}
		for _, pr := range r.Problems {
			fmt.Fprintf(io.Out, "  %s %s\n", p.Bad.Render("!"), pr)
		}
		for _, w := range r.Warnings {
			fmt.Fprintf(io.Out, "  %s %s\n", p.Warn.Render("~"), w)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
