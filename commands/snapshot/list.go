package snapshot

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/humanize"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	snap "github.com/etcdmedic/etcdmedic/snapshot"
)

type ListOptions struct {
	IO     *iostreams.IOStreams
	Format func() output.Format
	Dir    string
	Now    func() time.Time
}

// ListReport is the JSON output of list.
type ListReport struct {
	Snapshots []snap.Entry `json:"snapshots"`
}

// NewListOptions holds list's defaults.
func NewListOptions() *ListOptions { return &ListOptions{Dir: ".", Now: time.Now} }

func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := NewListOptions()
	opts.IO, opts.Format = f.IOStreams, f.Format
	return &cobra.Command{
		Use:   "list [DIR | URL]",
		Short: "List the snapshots in a directory: age, size, revision, cluster, verified",
		Long: `List the snapshots etcdmedic saved in DIR (default: the current directory), newest first.
Other files are ignored. STATE is "verified" when the metadata says the save verified
the file and its size, cluster, revision and time still agree with the file and its name,
"unverified" without metadata, "mismatch" when the metadata disagrees with the file (run
'etcdmedic snapshot verify' on it). list reads names and metadata only, so "verified" is
what the save found: verify reads the data again, and prune rechecks the snapshot it
keeps as the newest verified one. A snapshot dated more than 5 minutes ahead of this
clock shows a negative age and "future": true in JSON. At a URL, each snapshot's "url" in JSON
keeps the destination's query (endpoint, path style), as verify, drill and restore take it.`,
		Example: `  etcdmedic snapshot list /var/backups/etcd
  etcdmedic snapshot list /var/backups/etcd -o json | jq -r '.snapshots[0].path'
  etcdmedic snapshot verify "$(etcdmedic snapshot list "$URL" -o json | jq -r '.snapshots[0].url')"`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Dir = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunList(cmd.Context(), opts)
		},
	}
}

func RunList(ctx context.Context, opts *ListOptions) error {
	entries, err := listAny(ctx, opts.Dir, opts)
	if err != nil {
		return classify(fmt.Errorf("list: %w", err))
	}
	if entries == nil {
		entries = []snap.Entry{}
	}
	if f := opts.Format(); f.Machine() {
		return output.Write(opts.IO.Out, f, ListReport{Snapshots: entries})
	}
	if len(entries) == 0 {
		fmt.Fprintf(opts.IO.Out, "no snapshots in %s\n", opts.Dir)
		return nil
	}
	p := opts.IO.Palette()
	// The file name already holds the cluster, the revision and the time:
	// those go first on a narrow terminal (the name is never cut: it is
	// what the next command needs).
	t := output.NewFitTable(opts.IO.Out, opts.IO.IsStdoutTTY(), opts.IO.Width(),
		output.Column{Header: "FILE"}, output.Column{Header: "AGE", Priority: 1}, output.Column{Header: "SIZE"},
		output.Column{Header: "REVISION", Priority: 2}, output.Column{Header: "CLUSTER", Priority: 3},
		output.Column{Header: "KEYS", Priority: 1}, output.Column{Header: "STATE"})
	for _, e := range entries {
		state := p.Good.Render(e.State)
		if e.State != snap.StateVerified {
			state = p.Warn.Render(e.State)
		}
		keys := "-"
		if e.HasMeta {
			keys = fmt.Sprint(e.TotalKeys)
		}
		t.Row(filepath.Base(e.Path), humanize.Duration(time.Duration(e.AgeSeconds*float64(time.Second))), humanize.Bytes(e.Size),
			fmt.Sprint(e.Revision), e.ClusterID, keys, state)
	}
	return t.Render()
}
