// Package commands is the cobra tree: flags, help text, and rendering. The
// work itself happens in the capability packages (cluster, health, defrag,
// snapshot, breakglass, playground).
package commands

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	alertscmd "github.com/etcdmedic/etcdmedic/commands/alerts"
	breakglasscmd "github.com/etcdmedic/etcdmedic/commands/breakglass"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	defragcmd "github.com/etcdmedic/etcdmedic/commands/defrag"
	doctorcmd "github.com/etcdmedic/etcdmedic/commands/doctor"
	exportercmd "github.com/etcdmedic/etcdmedic/commands/exporter"
	inventorycmd "github.com/etcdmedic/etcdmedic/commands/inventory"
	membercmd "github.com/etcdmedic/etcdmedic/commands/member"
	playgroundcmd "github.com/etcdmedic/etcdmedic/commands/playground"
	snapshotcmd "github.com/etcdmedic/etcdmedic/commands/snapshot"
	statuscmd "github.com/etcdmedic/etcdmedic/commands/status"
	versioncmd "github.com/etcdmedic/etcdmedic/commands/version"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

func init() {
	// Every ancestor's PersistentPreRunE runs, so a group's hook cannot
	// silently shadow the root's (which sets up logging and colour).
	cobra.EnableTraverseRunHooks = true
}

// NewRootCmd builds the whole command tree around a factory.
func NewRootCmd(f *cmdutil.Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "etcdmedic <command> [flags]",
		Short: "etcd health and maintenance for Kubernetes control planes",
		Long: `etcdmedic diagnoses and maintains etcd clusters: member health, database size and
fragmentation, disk latency, safe rolling defragmentation, trustworthy snapshots, and a
scripted break-glass recovery runbook.

On a kubeadm control-plane node it needs no flags: endpoints and client certificates
come from /etc/kubernetes/manifests/etcd.yaml.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			settleGC(cmd)
			level := slog.LevelWarn
			if f.Global.Verbose {
				level = slog.LevelInfo
			}
			f.Logger = slog.New(slog.NewTextHandler(f.IOStreams.ErrOut, &slog.HandlerOptions{Level: level}))
			if f.Global.NoColor || f.Format().Machine() || f.Getenv("NO_COLOR") != "" {
				f.IOStreams.SetColorEnabled(false)
			}
			if f.Format() == output.Wide {
				f.IOStreams.SetWidth(0)
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &cmdutil.FlagError{Err: err} })
	f.AddGlobalFlags(root)

	root.AddGroup(
		&cobra.Group{ID: "health", Title: "Diagnose:"},
		&cobra.Group{ID: "maint", Title: "Maintain:"},
		&cobra.Group{ID: "tools", Title: "Try and set up:"},
	)
	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	status, version := statuscmd.NewCmdStatus(f, nil), versioncmd.NewCmdVersion(f)
	markShortLived(status, version)
	add("health", status, doctorcmd.NewCmdDoctor(f, nil), inventorycmd.NewCmdInventory(f, nil))
	add("health", exportercmd.NewCmdExporter(f, nil), alertscmd.NewCmdAlerts(f, nil))
	add("maint", defragcmd.NewCmdDefrag(f, nil))
	add("maint", snapshotcmd.NewCmdSnapshot(f))
	add("maint", breakglasscmd.NewCmdBreakglass(f))
	add("maint", membercmd.NewCmdMember(f))
	add("tools", playgroundcmd.NewCmdPlayground(f, Execute), version)
	add("tools", fullBuildCommands(f, root)...)
	cmdutil.MakeGroups(root)
	root.SetCompletionCommandGroupID("tools")
	root.SetHelpCommandGroupID("tools")
	return root
}

// Execute runs the CLI with the given arguments and streams, and returns the
// exit code. Tests call it in-process.
func Execute(ctx context.Context, args []string, ios *iostreams.IOStreams, getenv func(string) string) int {
	f := cmdutil.NewFactory(ios, getenv)
	root := NewRootCmd(f)
	root.SetArgs(args)
	root.SetIn(ios.In)
	root.SetOut(ios.Out)
	root.SetErr(ios.ErrOut)
	// cobra adds its completion group only when executing (writing to the
	// streams set by then): add it now, so `completion fsh` is an unknown
	// subcommand like any group's.
	root.InitDefaultCompletionCmd(args...)
	cmdutil.MakeGroups(root)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	code := cmdutil.ExitCode(err)
	if msg := cmdutil.Message(err); msg != "" {
		fmt.Fprintf(ios.ErrOut, "Error: %s\n", msg)
		if code == 64 && cmd != nil {
			fmt.Fprintf(ios.ErrOut, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		for _, step := range cmdutil.Suggestions(err) {
			fmt.Fprintf(ios.ErrOut, "→ %s\n", step)
		}
		if next := f.NextStep(err); next != "" {
			fmt.Fprintf(ios.ErrOut, "→ every finding and the command that fixes it: %s\n", next)
		}
	}
	return code
}

// Main is the process entry point.
func Main() int {
	raiseStartupGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Execute(ctx, os.Args[1:], iostreams.System(), os.Getenv)
}
