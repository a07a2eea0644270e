//go:build slim

package commands

import (
	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
)

// fullBuildCommands: the release build (-tags slim) has no docs command
// (see root_full.go).
func fullBuildCommands(*cmdutil.Factory, *cobra.Command) []*cobra.Command { return nil }
