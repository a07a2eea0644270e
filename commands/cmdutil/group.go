package cmdutil

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// MakeGroups walks the tree under root and turns every command that only
// holds subcommands into a group: alone it prints its help and exits 0 (as
// cobra and gh do: asking what a group offers is not an error), while an
// unknown subcommand (`snapshot sav`) is a usage error naming the closest
// ones, as the root's is. Without this cobra prints the group's help and
// exits 0, and a script's typo passes for success.
func MakeGroups(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.HasSubCommands() && !c.Runnable() {
			c.Args = unknownSubcommand
			c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
		MakeGroups(c)
	}
}

func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	} else {
		var names []string
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		msg += " (commands: " + strings.Join(names, ", ") + ")"
	}
	return UsageError(fmt.Errorf("%s", msg))
}
