// Package inventory implements `etcdmedic inventory`: what fills the keyspace.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/humanize"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	"github.com/etcdmedic/etcdmedic/inventory"
)

type Options struct {
	IO          *iostreams.IOStreams
	OpenCluster func() (*cluster.Cluster, error)
	Format      func() output.Format
	Read        inventory.Options
}

// NewInventoryOptions holds the defaults: pages of 1000 keys, the top 10,
// no pacing, the whole keyspace through the leader.
func NewInventoryOptions() *Options {
	return &Options{Read: inventory.Options{PageSize: 1000, TopN: 10}}
}

func NewCmdInventory(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := NewInventoryOptions()
	opts.IO, opts.OpenCluster, opts.Format = f.IOStreams, f.OpenCluster, f.Format
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "What fills the keyspace: keys and bytes per Kubernetes resource, top namespaces, largest keys",
		Long: `Read the keyspace and say what fills it: keys and bytes per Kubernetes resource
(/registry/<resource>/..., grouped resources such as /registry/apiregistration.k8s.io/
apiservices included), the namespaces holding the most of each, the first path segment of
everything else, and the largest keys.

Safe against a struggling cluster: every read is a range request of at most --page-size
keys (smaller when values are large), all pages at one pinned revision, so the picture is
consistent while writes go on; --max-rps paces the pages; --serializable reads from the
member asked instead of going through the leader; --keys-only fetches no values (sizes are
then key sizes only). Memory stays flat however many keys there are.

Exit codes: 0 read; 2 the read failed (for example the pinned revision was compacted
meanwhile: run it again); 3 no member reachable; 64 usage error.`,
		Example: `  etcdmedic inventory
  etcdmedic inventory --keys-only --serializable --max-rps 20     # gentle on a recovering cluster
  etcdmedic inventory --prefix /registry/events/ -o json | jq '.resources[0].topNamespaces'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Read.Prefix, "prefix", opts.Read.Prefix, "only keys under this prefix (default: the whole keyspace)")
	fl.Int64Var(&opts.Read.PageSize, "page-size", opts.Read.PageSize, "keys per range request")
	fl.BoolVar(&opts.Read.KeysOnly, "keys-only", opts.Read.KeysOnly, "count keys without fetching values (sizes are key sizes only)")
	fl.BoolVar(&opts.Read.Serializable, "serializable", opts.Read.Serializable, "read from the member asked, not through the leader (may be slightly stale)")
	fl.Float64Var(&opts.Read.MaxRPS, "max-rps", opts.Read.MaxRPS, "at most this many range requests per second (0: no pacing)")
	fl.IntVar(&opts.Read.TopN, "top", opts.Read.TopN, "namespaces per resource and largest keys to show")
	return cmd
}

// Validate checks flags before anything connects.
func (o *Options) Validate() error {
	r := o.Read
	if r.PageSize < 1 || r.TopN < 1 || r.MaxRPS < 0 || math.IsNaN(r.MaxRPS) || math.IsInf(r.MaxRPS, 0) {
		return cmdutil.UsageError(fmt.Errorf("--page-size and --top must be at least 1, --max-rps a number not negative"))
	}
	return nil
}

func Run(ctx context.Context, opts *Options) error {
	c, err := opts.OpenCluster()
	if err != nil {
		return err
	}
	defer c.Close()
	ro := opts.Read
	if opts.IO.IsStderrTTY() && !opts.Format().Machine() {
		ro.OnPage = func(p inventory.Progress) {
			fmt.Fprintf(opts.IO.ErrOut, "\rread %d keys (%s) in %d pages", p.Keys, humanize.Bytes(p.Bytes), p.Pages)
		}
	}
	r, err := inventory.Read(ctx, c, ro)
	if ro.OnPage != nil {
		fmt.Fprint(opts.IO.ErrOut, "\r\x1b[K")
	}
	if errors.Is(err, inventory.ErrThroughLeader) {
		return cmdutil.Suggest(err, "with quorum lost or no leader, read one member's own copy instead: "+opts.serializableCommand(c.Config))
	}
	if err != nil {
		return err
	}
	if f := opts.Format(); f.Machine() {
		return output.Write(opts.IO.Out, f, r)
	}
	return render(opts.IO, r)
}

// serializableCommand is this run again with --serializable: the flags in
// effect, the connection's included.
func (o *Options) serializableCommand(cfg *cluster.Config) string {
	d, r := NewInventoryOptions().Read, o.Read
	args := []string{"etcdmedic", "inventory", "--serializable"}
	if r.Prefix != d.Prefix {
		args = append(args, "--prefix", r.Prefix)
	}
	if r.KeysOnly {
		args = append(args, "--keys-only")
	}
	if r.PageSize != d.PageSize {
		args = append(args, "--page-size", strconv.FormatInt(r.PageSize, 10))
	}
	if r.MaxRPS != d.MaxRPS {
		args = append(args, "--max-rps", strconv.FormatFloat(r.MaxRPS, 'g', -1, 64))
	}
	if r.TopN != d.TopN {
		args = append(args, "--top", strconv.Itoa(r.TopN))
	}
	if f := o.Format(); f != output.Table {
		args = append(args, "-o", string(f))
	}
	return cluster.ShellJoin(append(args, cfg.ConnectionArgs()...))
}

func render(io *iostreams.IOStreams, r *inventory.Report) error {
	out, p := io.Out, io.Palette()
	sizeNote := ""
	if r.KeysOnly {
		sizeNote = " (key bytes only: --keys-only)"
	}
	fmt.Fprintf(out, "%s %d keys, %s%s at revision %d (%d pages, %.1fs)\n\n",
		p.Bold.Render("keyspace:"), r.Keys, humanize.Bytes(r.Bytes), sizeNote, r.Revision, r.Pages, r.TookSeconds)
	share := func(b int64) string {
		if r.Bytes == 0 {
			return "-"
		}
		return humanize.Percent(float64(b) / float64(r.Bytes))
	}
	if len(r.Resources) > 0 {
		t := output.NewFitTable(out, io.IsStdoutTTY(), io.Width(), output.Column{Header: "RESOURCE"}, output.Column{Header: "KEYS"},
			output.Column{Header: "BYTES"}, output.Column{Header: "SHARE", Priority: 1}, output.Column{Header: "TOP NAMESPACES", Flex: true})
		for _, ru := range r.Resources {
			var top []string
			for i, ns := range ru.TopNamespaces {
				if i == 3 {
					break
				}
				top = append(top, fmt.Sprintf("%s (%d, %s)", ns.Namespace, ns.Keys, humanize.Bytes(ns.Bytes)))
			}
			t.Row(ru.Resource, fmt.Sprint(ru.Keys), humanize.Bytes(ru.Bytes), share(ru.Bytes), dash(strings.Join(top, ", ")))
		}
		if err := t.Render(); err != nil {
			return err
		}
		fmt.Fprintln(out)
	}
	if len(r.Prefixes) > 0 {
		t := output.NewFitTable(out, io.IsStdoutTTY(), io.Width(), output.Column{Header: "PREFIX (NOT KUBERNETES)", Flex: true},
			output.Column{Header: "KEYS"}, output.Column{Header: "BYTES"}, output.Column{Header: "SHARE", Priority: 1})
		for _, pu := range r.Prefixes {
			t.Row(pu.Prefix, fmt.Sprint(pu.Keys), humanize.Bytes(pu.Bytes), share(pu.Bytes))
		}
		if err := t.Render(); err != nil {
			return err
		}
		fmt.Fprintln(out)
	}
	if len(r.LargestKeys) > 0 {
		t := output.NewFitTable(out, io.IsStdoutTTY(), io.Width(), output.Column{Header: "LARGEST KEYS", Flex: true}, output.Column{Header: "BYTES"})
		for _, k := range r.LargestKeys {
			t.Row(k.Key, humanize.Bytes(k.Bytes))
		}
		return t.Render()
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
