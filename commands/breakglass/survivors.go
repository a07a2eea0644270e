package breakglass

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	"github.com/etcdmedic/etcdmedic/internal/step"
)

type SurvivorsOptions struct {
	IO       *iostreams.IOStreams
	Format   func() output.Format
	DataDirs []string
	Roots    []string
	// KubeletConfig and ManifestDir apply to every --root.
	KubeletConfig, ManifestDir string
}

func NewCmdSurvivors(f *cmdutil.Factory, runF func(context.Context, *SurvivorsOptions) error) *cobra.Command {
	opts := &SurvivorsOptions{IO: f.IOStreams, Format: f.Format}
	cmd := &cobra.Command{
		Use:   "survivors (--data-dir DIR... | --root ROOT...)",
		Short: "Rank stopped members' data dirs by the committed data each holds (offline, read-only)",
		Long: `When quorum is lost for good, one member must be forced into a new cluster: the
one holding the newest committed data. survivors reads each member's data dir offline
and read-only with etcd's own code (the WAL in read mode, the newest snap file, the
bolt file opened read-only): WAL last index and term, commit index, the bolt file's
consistent index, revision, size, member and cluster ID. It ranks them by the index a
--force-new-cluster start keeps (max of WAL commit and consistent index; entries above
it are discarded), then by last term and index, and says how many committed entries
each lacks against the best.

Nothing in any dir changes. A dir whose bolt file a running etcd holds (its file lock)
is reported as locked at once, never waited on, and not ranked. Dirs of different
clusters passed together are refused (exit 64). While any dir could not be read, no
force-new-cluster is advised: it may hold more than the best one read.

--root names mounted control-plane disks: each one's data dir is the --data-dir of its
etcd static-pod manifest (default /var/lib/etcd).

Exit codes: 0 every dir ranked; 1 some dirs could not be ranked (locked, unreadable:
said per dir); 2 none could; 64 bad flags or dirs of different clusters.`,
		Example: `  etcdmedic breakglass survivors --data-dir /mnt/cp-1/var/lib/etcd --data-dir /mnt/cp-2/var/lib/etcd
  etcdmedic breakglass survivors --root /mnt/cp-1 --root /mnt/cp-2 --root / -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (len(opts.DataDirs) == 0) == (len(opts.Roots) == 0) {
				return cmdutil.UsageError(errors.New("give either --data-dir or --root (one or more times), not both"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunSurvivors(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&opts.DataDirs, "data-dir", nil, "a member's etcd data dir (repeat for each member)")
	fs.StringArrayVar(&opts.Roots, "root", nil, "a control-plane disk's root; its etcd manifest names the data dir (repeat)")
	fs.StringVar(&opts.KubeletConfig, "kubelet-config", bg.DefaultKubeletConfig, "with --root: kubelet config whose staticPodPath names the manifest directory")
	fs.StringVar(&opts.ManifestDir, "manifest-dir", "", "with --root: static-pod directory (default: the kubelet's staticPodPath)")
	_ = cmd.MarkFlagDirname("data-dir")
	_ = cmd.MarkFlagDirname("root")
	return cmd
}

// SurvivorsView is the ranking plus, with --root, the command that forces
// the best one.
type SurvivorsView struct {
	*bg.SurvivorsReport
	Next string `json:"next,omitempty"`
	// Unranked counts the dirs that could not be read: while any is left,
	// no force-new-cluster is advised (Next is empty).
	Unranked int `json:"unranked"`
}

func RunSurvivors(_ context.Context, opts *SurvivorsOptions) error {
	dirs := opts.DataDirs
	roots := map[string]string{}
	for _, root := range opts.Roots {
		l, err := bg.ResolveLayout(bg.LayoutOptions{Root: root, KubeletConfig: opts.KubeletConfig, ManifestDir: opts.ManifestDir})
		if err != nil {
			return fmt.Errorf("--root %s: %w", root, err)
		}
		dd, err := bg.EtcdDataDir(l)
		if err != nil {
			return fault.Mark(fmt.Errorf("--root %s: %w", root, err), fault.Invalid)
		}
		dirs = append(dirs, dd)
		roots[dd] = root
	}
	r, err := bg.Survivors(dirs)
	if err != nil {
		return err
	}
	v := &SurvivorsView{SurvivorsReport: r}
	for _, d := range r.Dirs {
		if d.Rank == 0 {
			v.Unranked++
		}
	}
	// A dir left unread may hold more than the best one read: forcing now
	// could throw its entries away, so no force is advised until all are read.
	if root, ok := roots[r.Best]; ok && v.Unranked == 0 {
		if abs, aerr := filepath.Abs(root); aerr == nil {
			root = abs
		}
		v.Next = nextStep{layout: LayoutFlags{Root: root, KubeletConfig: opts.KubeletConfig, ManifestDir: opts.ManifestDir}}.command("breakglass", "force-new-cluster")
	}
	if err := step.Render(opts.IO, opts.Format(), v); err != nil {
		return err
	}
	ranked := 0
	for _, d := range r.Dirs {
		if d.Rank > 0 {
			ranked++
		}
	}
	switch {
	case ranked == 0:
		return fault.Reported(fault.Failed)
	case ranked < len(r.Dirs):
		return fault.Reported(fault.Partial)
	}
	return nil
}

func (v *SurvivorsView) Table(io *iostreams.IOStreams) error {
	t := output.NewTable(io.Out, io.IsStdoutTTY(), "RANK", "DATA DIR", "MEMBER", "COMMITTED", "BEHIND", "WAL LAST (TERM)", "CONSISTENT", "REVISION", "DB", "SNAP", "STATE")
	for _, d := range v.Dirs {
		rank, behind, state := "-", "-", "ok"
		if d.Rank > 0 {
			rank, behind = fmt.Sprint(d.Rank), fmt.Sprint(d.Behind)
		}
		switch {
		case d.Locked:
			state = "locked by a running etcd: stop it first"
		case len(d.Problems) > 0:
			state = d.Problems[0]
		}
		member := d.MemberID
		if d.Name != "" {
			member = d.Name + " " + d.MemberID
		}
		snap := d.SnapFile
		if snap == "" {
			snap = "-"
		}
		t.Row(rank, d.DataDir, member, fmt.Sprint(d.Committed), behind, fmt.Sprintf("%d (%d)", d.WALLastIndex, d.WALLastTerm),
			fmt.Sprint(d.ConsistentIndex), fmt.Sprint(d.Revision), humanize.IBytes(uint64(d.DBSizeBytes)), snap, state)
	}
	if err := t.Render(); err != nil {
		return err
	}
	for _, d := range v.Dirs {
		for _, p := range d.Problems[min(1, len(d.Problems)):] {
			fmt.Fprintf(io.Out, "%s: %s\n", d.DataDir, p)
		}
	}
	switch {
	case v.Best != "" && v.Unranked > 0:
		fmt.Fprintf(io.Out, "Best of the dirs read: %s (cluster %s).\n", v.Best, v.ClusterID)
	case v.Best != "":
		fmt.Fprintf(io.Out, "Best survivor: %s (cluster %s).\n", v.Best, v.ClusterID)
	}
	switch {
	case v.Best != "" && v.Unranked > 0:
		fmt.Fprintf(io.Out, "Next: %d dir(s) could not be read (above): fix that (a running etcd: stop it) and run survivors again; one of them may hold more than %s\n", v.Unranked, v.Best)
	case v.Next != "":
		fmt.Fprintf(io.Out, "Next: %s\n", v.Next)
	case v.Best != "":
		// Given as --data-dir, the dir's node is not known here: the
		// command is run there (or here with its disk under --root).
		fmt.Fprintln(io.Out, "Next: on the node that holds it: etcdmedic breakglass force-new-cluster --dry-run (then --yes; with its disk mounted here instead: --root MOUNT)")
	}
	return nil
}
