//go:build !slim

package commands

import (
	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	docscmd "github.com/etcdmedic/etcdmedic/commands/docs"
)

// fullBuildCommands are the commands only the full build has. docs (the CLI
// reference and man pages) links cobra/doc's man-page renderer
// (go-md2man, blackfriday), whose initialisation every command of the
// release binary would pay for at start; goreleaser's before-hook runs
// `go run ./cmd/etcdmedic docs --man`, a full build.
func fullBuildCommands(f *cmdutil.Factory, root *cobra.Command) []*cobra.Command {
	return []*cobra.Command{docscmd.NewCmdDocs(f, root)}
}
