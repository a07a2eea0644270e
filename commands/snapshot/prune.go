package snapshot

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/humanize"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	snap "github.com/etcdmedic/etcdmedic/snapshot"
)

type PruneOptions struct {
	IO     *iostreams.IOStreams
	Format func() output.Format
	Dir    string
	Policy snap.Policy
	Yes    bool
	Now    func() time.Time
}

// NewPruneOptions holds prune's defaults: no rule (one is required), a dry run.
func NewPruneOptions() *PruneOptions { return &PruneOptions{Now: time.Now} }

func NewCmdPrune(f *cmdutil.Factory, runF func(context.Context, *PruneOptions) error) *cobra.Command {
	opts := NewPruneOptions()
	opts.IO, opts.Format = f.IOStreams, f.Format
	cmd := &cobra.Command{
		Use:   "prune DIR|URL",
		Short: "Apply a retention policy to a snapshot directory (dry run unless --yes)",
		Long: `Decide which snapshots in DIR to keep, like restic's forget or etcd-manager's cleanup:
a snapshot is kept when any --keep-* rule selects it; --max-total-size then deletes the
oldest kept ones until the total fits. Buckets are UTC hours, days and ISO weeks; each
keeps its newest snapshot, for the N most recent buckets that have one.

Whatever the rules say, the newest verified snapshot of each cluster is never deleted,
nor any snapshot younger than --min-age. "Verified" is checked, not taken from the
metadata: before anything is deleted (and in a dry run) the snapshot relied on is read
again and its sha256 compared with the one recorded when save verified it; one that
changed since is reported and no longer counts, and the next one is checked.

A snapshot dated more than 5 minutes ahead of this host's clock (a skewed clock, an
edited name) has no age to judge: it is kept, reported, and left out of the ranking, so
it never takes a --keep-* slot from, nor counts as newer than, a snapshot with a true
time. Snapshots of different clusters in one directory are judged separately. Only files named etcd-<clusterID>-<revision>-<time>.db
(or .db.zst), and their .meta.json, are ever deleted.

Without --yes nothing is deleted: the plan is printed.

Exit codes: 0 planned or deleted; 1 planned or deleted, but a snapshot changed since
it was verified or is dated in the future (the lines marked ! say which); 2 a deletion
failed; 64 no rule given, or bad flags.`,
		Example: `  # what would go, keeping 24 hourly, 7 daily and 4 weekly
  etcdmedic snapshot prune /var/backups/etcd --keep-hourly 24 --keep-daily 7 --keep-weekly 4

  # do it, and stay under 20 GiB
  etcdmedic snapshot prune /var/backups/etcd --keep-last 30 --max-total-size 20Gi --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir = args[0]
			if err := validatePolicy(opts.Policy); err != nil {
				return err
			}
			if opts.Policy.Empty() {
				return cmdutil.UsageError(errors.New("give at least one of --keep-last, --keep-hourly, --keep-daily, --keep-weekly, --max-total-size"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunPrune(cmd.Context(), opts)
		},
	}
	policyFlags(cmd, &opts.Policy, "")
	cmd.Flags().BoolVar(&opts.Yes, "yes", opts.Yes, "delete; without it prune only prints what it would delete")
	return cmd
}

func RunPrune(ctx context.Context, opts *PruneOptions) error {
	res, err := pruneAny(ctx, opts)
	if res == nil {
		return classify(fmt.Errorf("prune: %w", err))
	}
	if f := opts.Format(); f.Machine() {
		if werr := output.Write(opts.IO.Out, f, res); werr != nil {
			return werr
		}
	} else {
		p := opts.IO.Palette()
		t := output.NewFitTable(opts.IO.Out, opts.IO.IsStdoutTTY(), opts.IO.Width(),
			output.Column{Header: "ACTION"}, output.Column{Header: "FILE"}, output.Column{Header: "AGE", Priority: 1},
			output.Column{Header: "SIZE", Priority: 2}, output.Column{Header: "STATE", Priority: 3}, output.Column{Header: "WHY", Flex: true})
		for _, d := range res.Decisions {
			action := p.Good.Render("keep")
			if !d.Keep {
				action = p.Bad.Render("delete")
				if res.DryRun {
					action = p.Warn.Render("would delete")
				}
			}
			t.Row(action, filepath.Base(d.Path), humanize.Duration(time.Duration(d.AgeSeconds*float64(time.Second))),
				humanize.Bytes(d.Size), d.State, d.Why())
		}
		if t.Len() > 0 {
			if err := t.Render(); err != nil {
				return err
			}
		}
		verb := "deleted"
		if res.DryRun {
			verb = "would delete (dry run; --yes deletes)"
		}
		fmt.Fprintf(opts.IO.Out, "\n%s %d of %d snapshots, %s\n", verb, len(res.Deleted), len(res.Decisions), humanize.Bytes(res.FreedBytes))
		for _, w := range res.Warnings {
			fmt.Fprintf(opts.IO.Out, "%s %s\n", p.Warn.Render("!"), w)
		}
	}
	if err != nil {
		// A deletion failed: the plan above says which.
		return fault.Mark(err, fault.Failed)
	}
	if len(res.Warnings) > 0 {
		return fault.Reported(fault.Partial)
	}
	return nil
}
