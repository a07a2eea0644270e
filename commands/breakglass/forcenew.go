package breakglass

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	"github.com/etcdmedic/etcdmedic/internal/step"
)

type ForceNewOptions struct {
	IO          *iostreams.IOStreams
	Format      func() output.Format
	OpenCluster func() (*cluster.Cluster, error)
	Connection  func() []string
	Layout      LayoutFlags
	Confirmation
	QuorumIsLost bool
	ClusterID    string
	Wait         time.Duration
	RemoveFlag   bool
}

func NewCmdForceNewCluster(f *cmdutil.Factory, runF func(context.Context, *ForceNewOptions) error) *cobra.Command {
	opts := &ForceNewOptions{IO: f.IOStreams, Format: f.Format, OpenCluster: f.OpenCluster, Connection: connectionOf(f)}
	cmd := &cobra.Command{
		Use:   "force-new-cluster",
		Short: "Make the chosen survivor a one-member cluster with its data, then take the flag out again",
		Long: `When quorum is lost for good, the member holding the newest committed data ('breakglass
survivors' says which) becomes a one-member cluster with --force-new-cluster, keeping
its data, member ID and cluster ID; the lost members are re-added later as learners
('member add', 'member promote'): once it serves alone, the next step prints both
commands for each lost member, under its old name and peer URLs and with this run's
connection flags, to run one member at a time, each on an empty data dir.

Refused (exit 4, nothing changed) while any other member of the old cluster answers:
they may still form a quorum, and a forced member beside them splits the cluster in
two. If they answer but truly cannot form a quorum, pass --quorum-is-lost with the
cluster ID typed back as --cluster-id.

On the node (the member running under the kubelet, the connection flags reaching it):
the etcd manifest is taken out of the static-pod directory (the kubelet stops etcd),
the data dir is copied with sha256 into <state-dir>/backups/ once etcd's lock is free
(after a free-space check), the manifest comes back with --force-new-cluster, and
once the member serves as a one-member cluster with at least the old revision the
original manifest is put back byte-identical: a flag left in place forces again at
every restart and throws away every member added since. Each wait is bounded by
--wait. Every manifest change is journaled before it is made; a kill leaves the old
file or the journaled new one.

Offline (--root on a disk mounted elsewhere, the member stopped): the backup and the
flagged manifest only; after the member's first start run it again with
--remove-flag. 'breakglass undo' takes back any manifest change left; the backup is
kept until you remove it.`,
		Example: `  etcdmedic breakglass force-new-cluster --dry-run
  etcdmedic breakglass force-new-cluster --yes --wait 5m
  etcdmedic breakglass force-new-cluster --quorum-is-lost --cluster-id 6db9e369d6530105 --yes
  etcdmedic breakglass force-new-cluster --root /mnt/cp-1 --yes
  etcdmedic breakglass force-new-cluster --root /mnt/cp-1 --remove-flag --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := durationIn("wait", opts.Wait, 10*time.Second, time.Hour); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunForceNewCluster(cmd.Context(), opts)
		},
	}
	opts.Layout.register(cmd)
	opts.Confirmation.register(cmd, "only check and show the plan")
	fs := cmd.Flags()
	fs.BoolVar(&opts.QuorumIsLost, "quorum-is-lost", false, "go ahead although other old members answer: they cannot form a quorum (needs --cluster-id)")
	fs.StringVar(&opts.ClusterID, "cluster-id", "", "the cluster's ID, typed back, with --quorum-is-lost")
	fs.DurationVar(&opts.Wait, "wait", 3*time.Minute, "bound on each wait: etcd stopping, serving forced, serving again (10s..1h)")
	fs.BoolVar(&opts.RemoveFlag, "remove-flag", false, "put the manifest back as it was before force-new-cluster (after an offline run's first start)")
	return cmd
}

// ForceNewView is the plan or the outcome with the next steps.
type ForceNewView struct {
	*bg.ForceNewReport
	RemoveFlagOnly bool   `json:"removeFlagOnly,omitempty"`
	Next           string `json:"next,omitempty"`
	Undo           string `json:"undo,omitempty"`
	// Rejoin brings the lost members back as they were (name, peer URLs),
	// one at a time, once the member serves alone without the flag.
	Rejoin []bg.Rejoin `json:"rejoin,omitempty"`
}

// rejoinSteps are the lost members that can come back under their own
// name and peer URLs (etcd forgot them with the force), and the next step
// that says so. Without a member to name, the next step is the template to
// fill in.
func (v *ForceNewView) rejoinSteps(next nextStep) {
	v.Next, v.Undo = "grow the cluster back one member at a time, each on an empty data dir: "+next.command("member", "add", "NAME", "--peer-urls", "URL"), ""
	v.Rejoin = bg.RejoinCommands(v.Lost(), next.command)
	if len(v.Rejoin) > 0 {
		v.Next = "bring the lost members back one at a time, each on an empty data dir (move its old one aside on its node): " +
			v.Rejoin[0].Add + ", start it with the flags that prints, then " + v.Rejoin[0].Promote
		if len(v.Rejoin) > 1 {
			v.Next += "; then the next (below)"
		}
	}
}

func RunForceNewCluster(ctx context.Context, opts *ForceNewOptions) error {
	l, j, err := opts.Layout.resolve()
	if err != nil {
		return err
	}
	next := nextStep{layout: opts.Layout, conn: opts.Connection}
	if opts.RemoveFlag {
		return runRemoveFlag(ctx, opts, l, j, next)
	}
	c, err := opts.OpenCluster()
	if err != nil {
		return err
	}
	defer c.Close()
	o := bg.ForceNewOptions{Cluster: c, QuorumIsLost: opts.QuorumIsLost, ClusterID: opts.ClusterID, Wait: opts.Wait}
	dd, err := bg.EtcdDataDir(l)
	if err != nil {
		return err
	}
	// Offline: a disk mounted here whose member is stopped; nothing will
	// start it until it is back in its node.
	o.Offline = l.Root != "/" && !bg.ReadDataDir(dd).Locked
	s := step.Step[*ForceNewView]{
		Exclusive: l.Exclusive,
		Plan: func(ctx context.Context) (step.Plan[*ForceNewView], error) {
			r, _, err := bg.PlanForceNewCluster(ctx, l, j, o)
			if err != nil {
				return step.Plan[*ForceNewView]{}, err
			}
			p := step.Plan[*ForceNewView]{Preview: &ForceNewView{ForceNewReport: r},
				Question: fmt.Sprintf("Force member %s of cluster %s into a new one-member cluster?", r.MemberID, r.ClusterID)}
			if !o.Offline {
				p.Changes = append(p.Changes, step.Change{Action: "move", Target: r.Manifest, Line: "take " + r.Manifest + " out (the kubelet stops etcd)"})
			}
			p.Changes = append(p.Changes,
				step.Change{Action: "write", Target: r.BackupDir, Line: fmt.Sprintf("back up %s (%s) to %s", r.DataDir, humanize.IBytes(uint64(r.DataDirBytes)), r.BackupDir)},
				step.Change{Action: "write", Target: r.Manifest, Line: "write " + r.Manifest + " with --force-new-cluster"})
			if !o.Offline {
				p.Changes = append(p.Changes, step.Change{Action: "write", Target: r.Manifest, Line: "once it serves alone with the old data: put the original " + r.Manifest + " back"})
			}
			return p, nil
		},
		Apply: func(ctx context.Context) (*ForceNewView, error) {
			r, err := bg.ForceNewCluster(ctx, l, j, o)
			if r == nil {
				return nil, err
			}
			v := &ForceNewView{ForceNewReport: r, Undo: next.command("breakglass", "undo")}
			switch {
			case r.Offline && err == nil:
				// Its disk goes back to its node: there the layout is at /
				// and discovery finds the connection, so neither --root nor
				// this rescue host's connection flags belong on that line.
				onNode := nextStep{layout: opts.Layout}
				onNode.layout.Root = ""
				v.Next = "start the member on its node, then there: " + onNode.command("breakglass", "force-new-cluster", "--remove-flag")
			case r.Done:
				v.rejoinSteps(next)
			case r.ServedAlone && !r.FlagRemoved:
				v.Next = next.command("breakglass", "force-new-cluster", "--remove-flag")
			}
			return v, err
		},
	}
	_, err = step.Run(ctx, opts.Confirmation.options(opts.IO, opts.Format()), s)
	return err
}

func runRemoveFlag(ctx context.Context, opts *ForceNewOptions, l *bg.Layout, j *bg.Journal, next nextStep) error {
	s := step.Step[*ForceNewView]{
		Exclusive: l.Exclusive,
		Plan: func(context.Context) (step.Plan[*ForceNewView], error) {
			r, err := bg.PlanRemoveForceFlag(l, j)
			if err != nil {
				return step.Plan[*ForceNewView]{}, err
			}
			return step.Plan[*ForceNewView]{Preview: &ForceNewView{ForceNewReport: r, RemoveFlagOnly: true}, Question: "Put the original " + r.Manifest + " back?",
				Changes: []step.Change{{Action: "revert", Target: r.Manifest, Line: "put the original " + r.Manifest + " back (no --force-new-cluster)"}}}, nil
		},
		Apply: func(context.Context) (*ForceNewView, error) {
			r, err := bg.PlanRemoveForceFlag(l, j)
			if err != nil {
				return nil, err
			}
			err = bg.RemoveForceFlag(l, j, r)
			v := &ForceNewView{ForceNewReport: r, RemoveFlagOnly: true}
			if err == nil {
				v.rejoinSteps(next)
			}
			return v, err
		},
	}
	_, err := step.Run(ctx, opts.Confirmation.options(opts.IO, opts.Format()), s)
	return err
}

func (v *ForceNewView) Table(io *iostreams.IOStreams) error {
	r := v.ForceNewReport
	if v.RemoveFlagOnly {
		if r.FlagRemoved {
			fmt.Fprintf(io.Out, "%s is back as it was before force-new-cluster: no --force-new-cluster.\n", r.Manifest)
		} else {
			fmt.Fprintf(io.Out, "Would put the original %s back (no --force-new-cluster).\n", r.Manifest)
		}
		printNext(io, v.Next, v.Undo)
		printRejoin(io, v.Rejoin)
		return nil
	}
	fmt.Fprintf(io.Out, "Member %s of cluster %s, data dir %s, manifest %s.\n", r.MemberID, r.ClusterID, r.DataDir, r.Manifest)
	t := output.NewTable(io.Out, io.IsStdoutTTY(), "OLD MEMBER", "ID", "CLIENT URLS", "ANSWERS")
	for _, om := range r.OldMembers {
		ans := "no"
		switch {
		case om.Self:
			ans = "this member"
		case om.Answered:
			ans = "yes"
		}
		t.Row(om.Name, om.ID, strings.Join(om.ClientURLs, ","), ans)
	}
	if err := t.Render(); err != nil {
		return err
	}
	if len(r.Edits) == 0 {
		mode := "on the node: stop etcd (manifest out), back up, flag in, wait until it serves alone, original manifest back"
		if r.Offline {
			mode = "offline: back up, flag in; remove the flag with --remove-flag after the first start"
		}
		fmt.Fprintf(io.Out, "Would back up %s (%s) to %s; %s.\n", r.DataDir, humanize.IBytes(uint64(r.DataDirBytes)), r.BackupDir, mode)
		return nil
	}
	for _, e := range r.Edits {
		fmt.Fprintf(io.Out, "journal #%d: %s (%s)\n", e.Seq, e.Path, e.Why)
	}
	fmt.Fprintf(io.Out, "Backup of the data dir: %s (revision %d, committed index %d), kept until you remove it.\n", r.BackupDir, r.Revision, r.CommittedIndex)
	switch {
	case r.Done:
		fmt.Fprintf(io.Out, "It served as a one-member cluster with the old data; --force-new-cluster is out of %s again and it serves without it.\n", r.Manifest)
	case r.Offline:
		fmt.Fprintf(io.Out, "%s has --force-new-cluster now: it forces at every start until removed.\n", r.Manifest)
	}
	printNext(io, v.Next, v.Undo)
	printRejoin(io, v.Rejoin)
	return nil
}

// printRejoin lists the members after the first (the next step names it):
// the same two commands each, in order.
func printRejoin(io *iostreams.IOStreams, rs []bg.Rejoin) {
	if len(rs) < 2 {
		return
	}
	for _, r := range rs[1:] {
		fmt.Fprintf(io.Out, "  then %s: %s, start it, then %s\n", r.Name, r.Add, r.Promote)
	}
}
