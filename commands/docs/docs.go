// Package docs implements `etcdmedic docs`: the CLI reference in docs/cli is
// generated from the command tree, and a test keeps the checked-in copy current.
package docs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
)

func NewCmdDocs(f *cmdutil.Factory, root *cobra.Command) *cobra.Command {
	var dir string
	var man bool
	cmd := &cobra.Command{
		Use:   "docs",
		Short: "Generate the CLI reference (Markdown, or man pages with --man)",
		Example: `  etcdmedic docs --dir docs/cli
  etcdmedic docs --man --dir /usr/local/share/man/man1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if man {
				return GenerateMan(root, dir)
			}
			if err := GenerateMarkdown(root, dir); err != nil {
				return err
			}
			fmt.Fprintf(f.IOStreams.ErrOut, "wrote the CLI reference to %s\n", dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "docs/cli", "directory to write into")
	cmd.Flags().BoolVar(&man, "man", false, "write man pages instead of Markdown")
	_ = cmd.MarkFlagDirname("dir")
	return cmd
}

// GenerateMarkdown writes one Markdown page per command. No date footer, so
// regenerating an unchanged tree changes nothing.
func GenerateMarkdown(root *cobra.Command, dir string) error {
	complete(root)
	return doc.GenMarkdownTreeCustom(root, dir, func(string) string { return "" }, func(name string) string {
		return strings.ToLower(filepath.Base(name))
	})
}

func GenerateMan(root *cobra.Command, dir string) error {
	complete(root)
	return doc.GenManTree(root, &doc.GenManHeader{Title: "ETCDMEDIC", Section: "1", Source: "etcdmedic"}, dir)
}

// complete adds the commands cobra otherwise adds only when executing
// (completion, help), so the reference is the same however it is generated.
func complete(root *cobra.Command) {
	root.DisableAutoGenTag = true
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	// completion is a group like the others once it exists (Execute does
	// the same), whichever way the tree was built.
	cmdutil.MakeGroups(root)
}
