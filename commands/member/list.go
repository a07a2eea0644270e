package member

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/humanize"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	"github.com/etcdmedic/etcdmedic/internal/step"
	"github.com/etcdmedic/etcdmedic/member"
)

type ListOptions struct{ common }

func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *ListOptions) error) *cobra.Command {
	opts := &ListOptions{commonOf(f)}
	return &cobra.Command{
		Use:   "list",
		Short: "One row per member: role, started, reachable, applied index and lag, DB size, stale",
		Long: `List every member by ID: name, peer and client URLs, voter or learner, started or not
(a member added but never started has no name), whether it answered Status, its applied
index and how far it trails the leader's commit index, and its database size.

A member that is started but does not answer Status within --command-timeout is marked
stale: it is dead, or it was left behind (a replaced node). Remove it with
'etcdmedic member remove ID' once the rest of the cluster is healthy. With quorum lost
(fewer voters answer than a quorum needs) no membership change can commit: the list says
so and names 'etcdmedic breakglass plan' instead.`,
		Example: `  etcdmedic member list
  etcdmedic member list -o json | jq -r '.members[] | select(.stale) | .id'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunList(cmd.Context(), opts)
		},
	}
}

func RunList(ctx context.Context, opts *ListOptions) error {
	c, err := opts.OpenCluster()
	if err != nil {
		return err
	}
	defer c.Close()
	l, err := member.List(ctx, c)
	if err != nil {
		return err
	}
	return step.Render(opts.IO, opts.Format(), listView{l, opts.command})
}

type listView struct {
	*member.Listing
	// command builds a next step with this run's connection flags.
	command func(args ...string) string
}

func (v listView) Table(io *iostreams.IOStreams) error {
	p := io.Palette()
	t := output.NewFitTable(io.Out, io.IsStdoutTTY(), io.Width(),
		output.Column{Header: "ID"}, output.Column{Header: "NAME"}, output.Column{Header: "ROLE"},
		output.Column{Header: "STARTED", Priority: 2}, output.Column{Header: "REACHABLE"},
		output.Column{Header: "APPLIED", Priority: 3}, output.Column{Header: "LAG", Priority: 1},
		output.Column{Header: "DB SIZE", Priority: 2}, output.Column{Header: "PEER URLS", Priority: 4, Flex: true},
		output.Column{Header: "CLIENT URLS", Priority: 5, Flex: true})
	for _, r := range v.Members {
		role := r.Role
		if r.IsLeader {
			role += " (leader)"
		}
		name := r.Name
		if name == "" {
			name = "-"
		}
		started := "yes"
		if !r.Started {
			started = p.Warn.Render("unstarted")
		}
		reach := p.Good.Render("yes")
		switch {
		case r.Stale:
			reach = p.Bad.Render("stale")
		case !r.Reachable:
			reach = p.Warn.Render("no")
		}
		applied, lag, size := "-", "-", "-"
		if r.Reachable {
			applied, size = fmt.Sprint(r.AppliedIndex), humanize.Bytes(r.DBSize)
		}
		if r.Lag != nil {
			lag = fmt.Sprint(*r.Lag)
		}
		t.Row(r.ID, name, role, started, reach, applied, lag, size, strings.Join(r.PeerURLs, ","), strings.Join(r.ClientURLs, ","))
	}
	if err := t.Render(); err != nil {
		return err
	}
	v.nextSteps(io)
	return nil
}

// nextSteps names, below the table, what to do about a member that needs
// it, with the exact command (this run's flags, pasteable on a narrow
// terminal): member remove for a stale or unstarted one (its own gate
// still checks the rest), member promote for a learner that answers.
func (v listView) nextSteps(io *iostreams.IOStreams) {
	p, width := io.Palette(), io.Width()
	first := true
	step := func(mark, text string, cmds ...string) {
		if first {
			fmt.Fprintln(io.Out)
			first = false
		}
		fmt.Fprintln(io.Out, output.Wrap(mark+" "+text, width, "    "))
		for _, c := range cmds {
			fmt.Fprintln(io.Out, output.WrapCommand("    "+c, width, "        "))
		}
	}
	if q := v.Quorum; q.Lost {
		// A removal or an add is a raft entry: none commits now, and a
		// stale member may be one the quorum needs back.
		step(p.Bad.Render("!"), fmt.Sprintf("quorum lost: %d of %d voters answer (quorum %d): no membership change can commit; start the stale members again, or, if they cannot come back, the break-glass runbook for lost quorum on a control-plane node:", q.Reachable, q.Voters, q.Needed),
			v.command("breakglass", "plan"))
	}
	for _, r := range v.Members {
		switch {
		case v.Quorum.Lost && (r.Stale || !r.Started):
		case !r.Started:
			step(p.Warn.Render("!"), r.ID+" was added but never started: start it with the flags 'etcdmedic member add' printed, or remove it:",
				v.command("member", "remove", r.ID))
		case r.Stale:
			step(p.Bad.Render("!"), r.Name+" ("+r.ID+") is stale: it did not answer Status; if it is gone for good, remove it once the rest is healthy, or put a new member in its place in one run:",
				v.command("member", "remove", r.ID),
				v.command("member", "replace", r.Name, "--name", "<new-name>", "--peer-urls", "<new-peer-url>"))
		case r.IsLearner && r.Reachable:
			step(p.Dim.Render("·"), r.Name+" is a learner: promote it once it is in sync (--wait waits for that):",
				v.command("member", "promote", r.ID, "--wait", "10m"))
		}
	}
}
