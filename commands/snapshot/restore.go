package snapshot

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	snap "github.com/etcdmedic/etcdmedic/snapshot"
)

type RestoreOptions struct {
	IO          *iostreams.IOStreams
	Format      func() output.Format
	OpenCluster func() (*cluster.Cluster, error)

	Restore snap.RestoreOptions
	Plan    bool
	Logger  func() *slog.Logger
	// Identity is an age identity file for an encrypted object.
	Identity string
}

// PlanReport is the JSON output of restore --plan.
type PlanReport struct {
	File    string          `json:"file"`
	Members []snap.PlanStep `json:"members"`
}

// NewRestoreOptions holds restore's defaults: etcd's own for the member and
// token, and a revision bump with compaction marked, so watchers relist.
func NewRestoreOptions() *RestoreOptions {
	return &RestoreOptions{Restore: snap.RestoreOptions{
		Name: "default", InitialClusterToken: "etcd-cluster",
		RevisionBump: snap.DefaultRevisionBump, MarkCompacted: true,
	}}
}

func NewCmdRestore(f *cmdutil.Factory, runF func(context.Context, *RestoreOptions) error) *cobra.Command {
	opts := NewRestoreOptions()
	opts.IO, opts.Format, opts.OpenCluster = f.IOStreams, f.Format, f.OpenCluster
	opts.Logger = func() *slog.Logger { return f.Logger }
	cmd := &cobra.Command{
		Use:   "restore FILE|URL/NAME",
		Short: "Restore a snapshot into a new member data dir (etcdutl's restore), or --plan it for every member",
		Long: `Verify FILE (as 'snapshot verify' does; .zst is decompressed), then write a new data dir
for one member with etcdutl's restore. A restore makes a NEW cluster: new cluster and
member IDs, the membership given by --initial-cluster. Every member must be restored from
the same file with the same --initial-cluster, --initial-cluster-token and
--bump-revision; --plan prints those exact commands for every member.

The data dir must not exist or be empty: restore never overwrites (move the old one
aside; it is the evidence, and the way back).

Why --bump-revision with --mark-compacted (the default, 1,000,000,000): Kubernetes
components hold watches and caches at the revision they last saw, which is newer than
the snapshot's. Restored as is, the revision would go back in time, then count up again
through numbers the watchers already saw, and they would silently miss every change
made under a reused revision. Bumping the revision past anything ever handed out, and
marking the old revisions compacted, makes every watcher get "required revision has
been compacted" and relist: a burst of LISTs, but a correct cache. A billion covers a
week of 1500 writes/s between snapshot and restore (etcd's recovery guide). Use
--bump-revision 0 only for a cluster that no watcher has ever seen.

The release build runs etcd's own etcdutl for the restore ('etcdutl snapshot restore'
with these flags): --etcdutl-binary, else the etcdutl beside etcdmedic (the release
archive and image ship it), else on PATH; none is a usage error. The full build uses
etcdutl's code built in, or --etcdutl-binary when given.

Versions: a restored data dir starts under etcd v3.5, v3.6 and v3.7 servers, except that
v3.6 refuses the database of a v3.7 server ("version "3.7.0" is not supported"): to go
back to v3.6, downgrade the live cluster ('etcdctl downgrade') and snapshot it after.

Exit codes: 0 restored (or planned); 2 the snapshot failed verification or the restore
failed; 4 the data dir is not empty; 64 bad flags or missing file.`,
		Example: `  # the commands for every member of the current cluster (names and peer URLs from it)
  etcdmedic snapshot restore etcd-3f2a...-1234-20260101T000000Z.db --plan --data-dir /var/lib/etcd-restored

  # the same, membership given
  etcdmedic snapshot restore snap.db --plan --data-dir /var/lib/etcd-restored \
    --initial-cluster m1=https://10.0.0.11:2380,m2=https://10.0.0.12:2380,m3=https://10.0.0.13:2380

  # on member m1
  etcdmedic snapshot restore snap.db --data-dir /var/lib/etcd-restored --name m1 \
    --initial-cluster m1=https://10.0.0.11:2380,m2=https://10.0.0.12:2380,m3=https://10.0.0.13:2380 \
    --initial-advertise-peer-urls https://10.0.0.11:2380`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Restore.File = args[0]
			if !opts.Restore.MarkCompacted && !cmd.Flags().Changed("mark-compacted") && opts.Restore.RevisionBump > 0 {
				opts.Restore.MarkCompacted = true
			}
			if opts.Restore.RevisionBump == 0 && !cmd.Flags().Changed("mark-compacted") {
				opts.Restore.MarkCompacted = false
			}
			if opts.Restore.MarkCompacted && opts.Restore.RevisionBump == 0 {
				return cmdutil.UsageError(fmt.Errorf("--mark-compacted needs --bump-revision > 0"))
			}
			// --plan prints commands that would then fail: checked here too.
			if opts.Restore.RevisionBump > snap.MaxRevisionBump {
				return cmdutil.UsageError(fmt.Errorf("--bump-revision %d is more than %d: the restored revision would not fit in etcd's int64", opts.Restore.RevisionBump, uint64(snap.MaxRevisionBump)))
			}
			if !opts.Plan {
				if err := opts.Restore.ValidateFlags(); err != nil {
					return cmdutil.UsageError(err)
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunRestore(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	r := &opts.Restore
	fs.StringVar(&r.DataDir, "data-dir", r.DataDir, "data dir to create (must not exist, or be empty)")
	fs.StringVar(&r.Name, "name", r.Name, "this member's name (as in --initial-cluster)")
	fs.StringVar(&r.InitialCluster, "initial-cluster", r.InitialCluster, "the new cluster's members: name=peerURL,... (default: <name>=<peer URL>; with --plan: the live cluster's member list)")
	fs.StringSliceVar(&r.PeerURLs, "initial-advertise-peer-urls", r.PeerURLs, "this member's peer URLs (default http://localhost:2380)")
	fs.StringVar(&r.InitialClusterToken, "initial-cluster-token", r.InitialClusterToken, "the new cluster's token, the same on every member")
	fs.Uint64Var(&r.RevisionBump, "bump-revision", r.RevisionBump, "raise the revision by this much (see above); 0 keeps it")
	fs.BoolVar(&r.MarkCompacted, "mark-compacted", r.MarkCompacted, "mark every revision up to the bumped one compacted, so watchers relist (needs --bump-revision)")
	fs.StringVar(&r.TempDir, "temp-dir", r.TempDir, "where to decompress a .zst snapshot (default: the system temp dir)")
	fs.StringVar(&r.EtcdutlBinary, "etcdutl-binary", "", "restore with this etcdutl binary (default: etcdutl's code built in; in the release build, the etcdutl beside etcdmedic, else on PATH)")
	_ = cmd.MarkFlagFilename("etcdutl-binary")
	fs.BoolVar(&opts.Plan, "plan", opts.Plan, "print the restore command for every member instead of restoring")
	fs.StringVar(&opts.Identity, "identity", "", "age identity file to decrypt an encrypted snapshot (URL/NAME.age)")
	_ = cmd.MarkFlagRequired("data-dir")
	return cmd
}

func RunRestore(ctx context.Context, opts *RestoreOptions) error {
	if opts.Plan {
		return runPlan(ctx, opts)
	}
	// A local file that is not there is the first thing to say, in either
	// build (the full one would say it next, the release one would ask
	// for etcdutl first).
	if f := opts.Restore.File; !snap.IsURL(f) {
		if _, err := os.Stat(f); err != nil {
			return cmdutil.UsageError(err)
		}
	}
	// Before any download: no etcdutl to restore with is a usage error.
	bin, err := snap.FindRestoreTool(opts.Restore.EtcdutlBinary)
	if err != nil {
		return err
	}
	opts.Restore.EtcdutlBinary = bin
	res, err := restoreAny(ctx, opts)
	if res != nil && res.Etcdutl != nil && opts.Logger != nil {
		opts.Logger().Info("restore ran etcd's etcdutl", "path", res.Etcdutl.Path, "version", res.Etcdutl.Version)
	}
	if err != nil {
		if res != nil && res.Verify != nil && !res.Verify.OK() && !opts.Format().Machine() {
			renderVerify(opts.IO, VerifyReport{Snapshots: []*snap.VerifyResult{res.Verify}})
		}
		return classify(err)
	}
	if f := opts.Format(); f.Machine() {
		return output.Write(opts.IO.Out, f, res)
	}
	p := opts.IO.Palette()
	fmt.Fprintf(opts.IO.Out, "%s %s into %s as member %s\n", p.Good.Render("restored"), opts.Restore.File, res.DataDir, res.Name)
	fmt.Fprintf(opts.IO.Out, "  snapshot revision %d, %d keys", res.Revision, res.Verify.TotalKeys)
	if res.RevisionBump > 0 {
		fmt.Fprintf(opts.IO.Out, "; revision bumped by %d to %d, older revisions marked compacted=%v", res.RevisionBump, res.RestoredRevision, res.MarkCompacted)
	}
	fmt.Fprintln(opts.IO.Out)
	fmt.Fprintf(opts.IO.Out, "  start etcd with --name %s --data-dir %s (and the same peer URLs); restore every other member from the same file first\n", res.Name, res.DataDir)
	for _, w := range res.Warnings {
		fmt.Fprintf(opts.IO.Out, "  %s %s\n", p.Warn.Render("note:"), w)
	}
	return nil
}

func runPlan(ctx context.Context, opts *RestoreOptions) error {
	o := opts.Restore
	if o.InitialCluster == "" {
		ic, err := liveInitialCluster(ctx, opts)
		if err != nil {
			return fault.Mark(fmt.Errorf("restore --plan: no --initial-cluster given and the live member list is unavailable: %w", err), fault.Indeterminate)
		}
		o.InitialCluster = ic
	}
	var carry []string
	if opts.Identity != "" {
		carry = append(carry, "--identity", opts.Identity)
	}
	steps, err := snap.RestorePlan(o, "etcdmedic", carry...)
	if err != nil {
		return cmdutil.UsageError(err)
	}
	if f := opts.Format(); f.Machine() {
		return output.Write(opts.IO.Out, f, PlanReport{File: o.File, Members: steps})
	}
	out := opts.IO.Out
	fmt.Fprintf(out, "# Restore %s as a new %d-member cluster.\n", o.File, len(steps))
	fmt.Fprintln(out, "# 1. Stop etcd on every member (kubeadm: move /etc/kubernetes/manifests/etcd.yaml out) and")
	if snap.IsURL(o.File) {
		fmt.Fprintln(out, "#    give each member read access to the destination (its line downloads and verifies the snapshot).")
	} else {
		fmt.Fprintln(out, "#    copy the snapshot and its .meta.json to each member.")
	}
	fmt.Fprintln(out, "# 2. On each member, run its line:")
	for _, s := range steps {
		fmt.Fprintf(out, "\n# on %s (%s)\n%s\n", s.Name, strings.Join(s.PeerURLs, ","), s.Command)
	}
	fmt.Fprintf(out, "\n# 3. Point each member's etcd at %s (kubeadm: the etcd-data hostPath) and start them all.\n", o.DataDir)
	return nil
}

// liveInitialCluster builds name=peerURL,... from the current member list.
func liveInitialCluster(ctx context.Context, opts *RestoreOptions) (string, error) {
	c, err := opts.OpenCluster()
	if err != nil {
		return "", err
	}
	defer c.Close()
	ms, err := c.Members(ctx)
	if err != nil {
		return "", err
	}
	var parts []string
	for _, m := range ms.Members {
		if m.Name == "" {
			return "", fmt.Errorf("member %s has no name (never started)", m.IDString())
		}
		for _, u := range m.PeerURLs {
			parts = append(parts, m.Name+"="+u)
		}
	}
	return strings.Join(parts, ","), nil
}
