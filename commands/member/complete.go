package member

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// completeMembers completes a member argument from the cluster's own member
// list, reached with the connection flags typed so far and bounded by
// --dial-timeout: a completion that hangs is worse than none. A member that
// never started has no name, so its ID is offered.
func (o common) completeMembers(keep func(cluster.Member) bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := o.OpenCluster()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(cmd.Context(), c.Config.DialTimeout)
		defer cancel()
		ms, err := c.Members(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, m := range ms.Members {
			if !keep(m) {
				continue
			}
			role := "voter"
			if m.IsLearner {
				role = "learner"
			}
			ref := m.Name
			if ref == "" {
				ref, role = m.IDString(), role+", never started"
			}
			out = append(out, cobra.CompletionWithDesc(ref, role+" "+m.IDString()))
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func anyMember(cluster.Member) bool { return true }
func learner(m cluster.Member) bool { return m.IsLearner }
func voter(m cluster.Member) bool   { return !m.IsLearner }
