package member

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/step"
	"github.com/etcdmedic/etcdmedic/member"
)

type RemoveOptions struct {
	common
	Ref          string
	AgreeTimeout time.Duration
	Yes          bool
	DryRun       bool
}

// NewRemoveOptions holds the defaults the flags show.
func NewRemoveOptions() *RemoveOptions { return &RemoveOptions{AgreeTimeout: 30 * time.Second} }

func NewCmdRemove(f *cmdutil.Factory, runF func(context.Context, *RemoveOptions) error) *cobra.Command {
	opts := NewRemoveOptions()
	opts.common = commonOf(f)
	cmd := &cobra.Command{
		Use:   "remove ID|NAME",
		Short: "Remove a member when every voter that remains is healthy; the leader hands over first",
		Long: `Remove a member from the cluster. Refused (exit 4, naming the condition) unless every
voter that remains answers, serves a linearizable read and is caught up, they agree on one
leader and no alarm but NOSPACE is raised; the last voter is never removed.

Removing an unreachable member (dead, or stale: left behind by a replacement) is the
common case and is allowed when the rest is healthy. Removing a healthy member while
another voter is down is refused: the cluster would be left with less margin than it
has now. When the member leads, leadership moves to the healthiest caught-up voter
first. Done once no remaining member lists it.

A removed member stops itself; restarted on its old data dir it exits again ("the member
has been permanently removed"): move its data dir away before reusing the node.

Exit codes: 0 removed; 2 the removal failed or was not seen everywhere in time; 4 refused
or not confirmed; 64 an unknown member.`,
		Example: `  etcdmedic member list          # find the stale member's ID
  etcdmedic member remove 8e9e05c52164694d --yes`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: opts.completeMembers(anyMember),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			if opts.AgreeTimeout <= 0 {
				return cmdutil.UsageError(fmt.Errorf("--agree-timeout must be positive"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunRemove(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.AgreeTimeout, "agree-timeout", opts.AgreeTimeout, "time for a leader move, and for every remaining member to drop the removed one")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "remove without asking")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "judge the gate only; change nothing")
	return cmd
}

// RemoveResult is what remove prints. Its JSON form is a contract.
type RemoveResult struct {
	Removed   bool   `json:"removed"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	Reachable bool   `json:"reachable"`
	IsLeader  bool   `json:"isLeader"`
	// LeaderMovedTo is the member's ID that leads now, when it led before.
	LeaderMovedTo string `json:"leaderMovedTo,omitempty"`
	Remaining     int    `json:"remaining"`
}

func (r *RemoveResult) Table(io *iostreams.IOStreams) error {
	who := label(r.Name, r.ID)
	if !r.Removed {
		what := "reachable"
		if !r.Reachable {
			what = "unreachable"
		}
		extra := ""
		if r.IsLeader {
			extra = "; it leads: leadership moves first"
		}
		_, err := fmt.Fprintf(io.Out, "would remove %s (%s, %s)%s; the gate holds\n", who, r.ID, what, extra)
		return err
	}
	if r.LeaderMovedTo != "" {
		fmt.Fprintf(io.Out, "leadership moved from %s to %s first\n", who, r.LeaderMovedTo)
	}
	_, err := fmt.Fprintf(io.Out, "removed %s (%s); %d members remain, none lists it\n", who, r.ID, r.Remaining)
	return err
}

func RunRemove(ctx context.Context, opts *RemoveOptions) error {
	c, err := opts.OpenCluster()
	if err != nil {
		return err
	}
	defer c.Close()
	t, _ := health.Preset(health.DefaultPreset)
	ro := member.RemoveOptions{Thresholds: t, AgreeTimeout: opts.AgreeTimeout, Retry: 15 * time.Second}
	_, err = step.Run(ctx, step.Options{IO: opts.IO, Format: opts.Format(), Yes: opts.Yes, DryRun: opts.DryRun}, step.Step[*RemoveResult]{
		Plan: func(ctx context.Context) (step.Plan[*RemoveResult], error) {
			m, g, err := member.PlanRemove(ctx, c, opts.Ref, ro)
			if err != nil {
				return step.Plan[*RemoveResult]{}, err
			}
			if err := g.Err("remove " + m.Label()); err != nil {
				return step.Plan[*RemoveResult]{}, err
			}
			if opts.Yes {
				// The apply follows at once: it acts on this verdict
				// instead of waiting out a hung member's timeout again.
				// After a prompt, which may have waited on a person for
				// minutes, it judges again.
				ro.Judged = g
			}
			r := &RemoveResult{ID: m.IDString(), Name: m.Name}
			for _, st := range g.Snapshot.Members {
				if st.Member.ID == m.ID {
					r.Reachable, r.IsLeader = st.OK(), st.IsLeader()
				}
			}
			return step.Plan[*RemoveResult]{
				Changes:  []step.Change{{Action: "remove", Target: m.IDString(), Line: "remove member " + m.Label() + " (" + m.IDString() + ")"}},
				Question: fmt.Sprintf("Remove member %s (%s)?", m.Label(), m.IDString()),
				Preview:  r,
			}, nil
		},
		Apply: func(ctx context.Context) (*RemoveResult, error) {
			rm, err := member.Remove(ctx, c, opts.Ref, ro)
			if err != nil {
				return nil, err
			}
			r := &RemoveResult{Removed: true, ID: rm.Member.IDString(), Name: rm.Member.Name, Reachable: rm.Reachable, Remaining: rm.Remaining}
			if rm.LeaderMovedTo != nil {
				r.IsLeader, r.LeaderMovedTo = true, rm.LeaderMovedTo.IDString()
			}
			return r, nil
		},
	})
	return err
}
