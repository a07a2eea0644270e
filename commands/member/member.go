// Package member implements `etcdmedic member list|add|promote|remove|replace|move-leader`.
// The work is in the top-level member package; this one wires flags and renders.
package member

import (
	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

// NewCmdMember is the command group.
func NewCmdMember(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "member <command>",
		Short: "Change membership one member at a time, gated like defrag: list, add, promote, remove, replace, move-leader",
		Long: `List members with each one's own answer, and change the membership one member at a
time: add a member (always as a learner), promote it once it is in sync, remove a member,
replace one by another, or move leadership. Before every change the gate is judged on a
fresh look at every member, by the same checks status and doctor run: a change that would
leave the cluster without a healthy quorum is refused (exit 4) and nothing is changed.

With shell completion ('etcdmedic completion'), a member argument completes from the
cluster's own member list, reached with the connection flags typed so far.`,
	}
	cmd.AddCommand(NewCmdList(f, nil), NewCmdMoveLeader(f, nil), NewCmdAdd(f, nil), NewCmdPromote(f, nil), NewCmdRemove(f, nil), NewCmdReplace(f, nil))
	return cmd
}

// common is what every member command is given by the factory.
type common struct {
	IO          *iostreams.IOStreams
	OpenCluster func() (*cluster.Cluster, error)
	Format      func() output.Format
	// Connection is the connection flags of this run, for printed next steps.
	Connection func() []string
}

func commonOf(f *cmdutil.Factory) common {
	return common{IO: f.IOStreams, OpenCluster: f.OpenCluster, Format: f.Format, Connection: func() []string {
		cfg, err := f.ClusterConfig()
		if err != nil {
			return nil
		}
		return cfg.ConnectionArgs()
	}}
}

// command is `etcdmedic <args>` with this run's connection flags, quoted to paste.
func (o common) command(args ...string) string {
	argv := append([]string{"etcdmedic"}, args...)
	if o.Connection != nil {
		argv = append(argv, o.Connection()...)
	}
	return cluster.ShellJoin(argv)
}
