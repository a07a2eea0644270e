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
'etcdmedic member remove ID' once the rest of the cluster is healthy.`,
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
	return step.Render(opts.IO, opts.Format(), listView{l})
}

type listView struct{ *member.Listing }

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
	return t.Render()
}
