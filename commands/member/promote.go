package member

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/humanize"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/step"
	"github.com/etcdmedic/etcdmedic/member"
)

type PromoteOptions struct {
	common
	Ref    string
	Wait   time.Duration
	Verify time.Duration
	Yes    bool
	DryRun bool
}

// NewPromoteOptions holds the defaults the flags show: one try, a minute to verify.
func NewPromoteOptions() *PromoteOptions { return &PromoteOptions{Verify: time.Minute} }

func NewCmdPromote(f *cmdutil.Factory, runF func(context.Context, *PromoteOptions) error) *cobra.Command {
	opts := NewPromoteOptions()
	opts.common = commonOf(f)
	cmd := &cobra.Command{
		Use:   "promote ID|NAME",
		Short: "Promote a learner to voter once it is in sync, then verify it votes and serves reads",
		Long: `Promote a learner to a voter. etcd refuses a learner that has not caught up ("can only
promote a learner member which is in sync with leader": below 90 % of the leader's log);
with --wait the promote is retried until the learner is in sync or the wait is over, with
a progress line on a terminal (learner applied vs leader committed, database received,
ETA). Without --wait a learner not yet in sync is exit 4, saying how far behind it is.

Gate: every voter healthy (answers, serves a linearizable read, caught up, one leader).
After the promote, every member's own member list must show it as a voter and it must
serve a linearizable read (within --verify-timeout). Promoting a member that is a voter
already only verifies it (an earlier promote whose answer was lost).

Exit codes: 0 promoted and verified; 2 the promote or the verification failed; 4 not in
sync (the lag is printed), refused by the gate, or not confirmed; 64 an unknown member.`,
		Example:           `  etcdmedic member promote cp-4 --wait 10m --yes`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: opts.completeMembers(learner),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			if opts.Wait < 0 || opts.Verify <= 0 {
				return cmdutil.UsageError(fmt.Errorf("--wait must not be negative and --verify-timeout must be positive"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunPromote(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Wait, "wait", opts.Wait, "how long the learner may take to start and come in sync (0: try once)")
	cmd.Flags().DurationVar(&opts.Verify, "verify-timeout", opts.Verify, "time every member has to list it as a voter and for it to serve a linearizable read")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "promote without asking")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "show the learner and how far behind it is; change nothing")
	return cmd
}

// PromoteResult is what promote prints. Its JSON form is a contract.
type PromoteResult struct {
	Promoted bool   `json:"promoted"`
	ID       string `json:"id"`
	Name     string `json:"name"`
	// Already: it was a voter already; only verified.
	Already       bool     `json:"already"`
	Attempts      int      `json:"attempts"`
	WaitedSeconds float64  `json:"waitedSeconds"`
	ListedBy      []string `json:"listedAsVoterBy"`
	// Lag is how far the learner trailed when planned.
	Lag *uint64 `json:"lag,omitempty"`
}

func (r *PromoteResult) Table(io *iostreams.IOStreams) error {
	who := label(r.Name, r.ID)
	var err error
	switch {
	case r.Already && !r.Promoted:
		_, err = fmt.Fprintf(io.Out, "%s is a voter already; nothing to promote\n", who)
	case !r.Promoted:
		lag := "lag unknown"
		if r.Lag != nil {
			lag = fmt.Sprintf("%d entries behind the leader", *r.Lag)
		}
		_, err = fmt.Fprintf(io.Out, "would promote learner %s (%s)\n", who, lag)
	case r.Already:
		_, err = fmt.Fprintf(io.Out, "%s is a voter already; every member lists it as one and it serves linearizable reads\n", who)
	default:
		_, err = fmt.Fprintf(io.Out, "promoted %s to voter after %d attempt(s) in %.1fs; listed as a voter by %d members, serves linearizable reads\n", who, r.Attempts, r.WaitedSeconds, len(r.ListedBy))
	}
	return err
}

func RunPromote(ctx context.Context, opts *PromoteOptions) error {
	c, err := opts.OpenCluster()
	if err != nil {
		return err
	}
	defer c.Close()
	t, _ := health.Preset(health.DefaultPreset)
	po := member.PromoteOptions{Wait: opts.Wait, Verify: opts.Verify, Thresholds: t, OnProgress: progressLine(opts.IO)}
	_, err = step.Run(ctx, step.Options{IO: opts.IO, Format: opts.Format(), Yes: opts.Yes, DryRun: opts.DryRun}, step.Step[*PromoteResult]{
		Plan: func(ctx context.Context) (step.Plan[*PromoteResult], error) {
			ms, m, err := member.ResolveJoining(ctx, c, opts.Ref, opts.Wait)
			if err != nil {
				return step.Plan[*PromoteResult]{}, err
			}
			r := &PromoteResult{ID: m.IDString(), Name: m.Name, ListedBy: []string{}}
			if row := rowOf(member.ListOf(c.Probe(ctx, ms, cluster.ProbeOptions{SkipMetrics: true})), m.IDString()); row != nil {
				r.Lag = row.Lag
			}
			if err := ms.OneCluster(); err != nil {
				return step.Plan[*PromoteResult]{}, err
			}
			p := step.Plan[*PromoteResult]{Preview: r, Question: fmt.Sprintf("Promote learner %s to voter?", m.Label())}
			r.Already = !m.IsLearner
			if m.IsLearner {
				p.Changes = []step.Change{{Action: "promote", Target: m.IDString(), Line: "promote learner " + m.Label() + " to voter"}}
			}
			return p, nil
		},
		Apply: func(ctx context.Context) (*PromoteResult, error) {
			p, err := member.Promote(ctx, c, opts.Ref, po)
			endProgress(opts.IO)
			if err != nil {
				return nil, err
			}
			by := p.ListedBy
			if by == nil {
				by = []string{}
			}
			return &PromoteResult{Promoted: true, ID: p.Member.IDString(), Name: p.Member.Name, Already: p.Already, Attempts: p.Attempts,
				WaitedSeconds: p.Waited.Seconds(), ListedBy: by}, nil
		},
	})
	return err
}

func rowOf(l *member.Listing, id string) *member.Row {
	for i := range l.Members {
		if l.Members[i].ID == id {
			return &l.Members[i]
		}
	}
	return nil
}

// progressLine rewrites one stderr line on a terminal; off a terminal it
// prints nothing (the final result says what happened).
func progressLine(io *iostreams.IOStreams) func(member.Progress) {
	if !io.IsStderrTTY() {
		return nil
	}
	return func(p member.Progress) {
		line := "learner " + p.String()
		if p.Err == nil {
			line += fmt.Sprintf(", database %s of %s", humanize.Bytes(p.LearnerDBSize), humanize.Bytes(p.LeaderDBSize))
			if p.ETA > 0 {
				line += ", ETA " + humanize.Duration(p.ETA)
			}
		}
		fmt.Fprintf(io.ErrOut, "\r\033[K%s", line)
	}
}

func endProgress(io *iostreams.IOStreams) {
	if io.IsStderrTTY() {
		fmt.Fprint(io.ErrOut, "\r\033[K")
	}
}
