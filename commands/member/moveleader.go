package member

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/step"
	"github.com/etcdmedic/etcdmedic/member"
)

type MoveLeaderOptions struct {
	common
	To           string
	MaxLag       uint64
	AgreeTimeout time.Duration
}

// NewMoveLeaderOptions holds the defaults the flags show.
func NewMoveLeaderOptions() *MoveLeaderOptions {
	return &MoveLeaderOptions{MaxLag: 1000, AgreeTimeout: 30 * time.Second}
}

func NewCmdMoveLeader(f *cmdutil.Factory, runF func(context.Context, *MoveLeaderOptions) error) *cobra.Command {
	opts := NewMoveLeaderOptions()
	opts.common = commonOf(f)
	cmd := &cobra.Command{
		Use:   "move-leader",
		Short: "Hand leadership to the healthiest caught-up voter (or --to one), verified by every voter",
		Long: `Move leadership away from the current leader: to --to (an ID or name), or by default
to the healthiest caught-up voter (answers Status, applied within --max-lag of the
leader's commit index, lowest WAL fsync p99). The request goes to the leader itself;
the move counts as done once every voter names the new leader.

Gated like every membership change: every voter must answer, serve a linearizable read
and be caught up under one leader before anything moves, or the move could not be
verified.

Exit codes: 0 moved (or --to already leads); 2 the move failed or the voters did not
agree within --agree-timeout; 4 refused (the gate: a voter down, lagging or an alarm;
no leader, no caught-up voter, --to not caught up); 64 usage (an unknown member, a
learner as --to).`,
		Example: `  etcdmedic member move-leader
  etcdmedic member move-leader --to m2 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.AgreeTimeout <= 0 {
				return cmdutil.UsageError(fmt.Errorf("--agree-timeout must be positive"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunMoveLeader(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.To, "to", opts.To, "the voter to lead (ID or name); default: the healthiest caught-up voter")
	_ = cmd.RegisterFlagCompletionFunc("to", opts.completeMembers(voter))
	cmd.Flags().Uint64Var(&opts.MaxLag, "max-lag", opts.MaxLag, "how far the new leader's applied index may trail the leader's commit index")
	cmd.Flags().DurationVar(&opts.AgreeTimeout, "agree-timeout", opts.AgreeTimeout, "time every voter has to name the new leader")
	return cmd
}

// MoveLeaderResult is what move-leader prints. Its JSON form is a contract.
type MoveLeaderResult struct {
	From        string  `json:"from"`
	FromName    string  `json:"fromName"`
	To          string  `json:"to"`
	ToName      string  `json:"toName"`
	Moved       bool    `json:"moved"`
	TookSeconds float64 `json:"tookSeconds"`
}

func (r *MoveLeaderResult) Table(io *iostreams.IOStreams) error {
	if !r.Moved {
		_, err := fmt.Fprintf(io.Out, "%s already leads; nothing moved\n", label(r.ToName, r.To))
		return err
	}
	_, err := fmt.Fprintf(io.Out, "leadership moved from %s to %s in %.1fs; every voter agrees\n", label(r.FromName, r.From), label(r.ToName, r.To), r.TookSeconds)
	return err
}

func label(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

func RunMoveLeader(ctx context.Context, opts *MoveLeaderOptions) error {
	c, err := opts.OpenCluster()
	if err != nil {
		return err
	}
	defer c.Close()
	ms, err := c.Members(ctx)
	if err != nil {
		return err
	}
	mo := member.MoveOptions{MaxLag: opts.MaxLag, AgreeTimeout: opts.AgreeTimeout}
	if opts.To != "" {
		to, err := member.Resolve(ms, opts.To)
		if err != nil {
			return ms.Explain(err)
		}
		mo.To = to.ID
	}
	// Gated like every membership change, before anything moves; the
	// one-cluster check waits beside it for a hung member.
	t, _ := health.Preset(health.DefaultPreset)
	if err := member.Judge(ctx, c, ms, health.MoveLeadership, t).Err("move leader"); err != nil {
		return err
	}
	if err := ms.OneCluster(); err != nil {
		return err
	}
	snap := c.Probe(ctx, ms, cluster.ProbeOptions{})
	moved, err := member.MoveLeader(ctx, c, snap, mo)
	if err != nil {
		return err
	}
	r := &MoveLeaderResult{From: moved.From.IDString(), FromName: moved.From.Name, To: moved.To.IDString(), ToName: moved.To.Name,
		Moved: !moved.Already, TookSeconds: moved.Took.Seconds()}
	return step.Render(opts.IO, opts.Format(), r)
}
