// Package breakglass implements `etcdmedic breakglass ...`: the recovery
// runbook, one subcommand per step. The work is in the breakglass package.
package breakglass

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/exitcode"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
)

// NewCmdBreakglass is the command group.
func NewCmdBreakglass(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "breakglass <command>",
		Short: "The recovery runbook, scripted: etcd-only boot, localhost apiserver, ramp, stale-pod purge, undo",
		Long: `Break-glass recovery for a control plane that keeps falling over: every time etcd
comes back, the apiserver starts, every client reconnects and lists tens of thousands
of stale pods, and it goes down again. Each step says what it will change, changes
nothing without --yes (or a "y" on a terminal), checks what it did, records it in a
journal (<root>/var/lib/etcdmedic/breakglass/journal.jsonl: path, sha256, time, user,
result; never secrets), and 'breakglass undo' reverts it.

Start with 'etcdmedic breakglass plan': it inspects the node (or a control-plane
disk mounted elsewhere, with --root) and prints the runbook with the exact command for
each step and whether it is done.

Exit codes: 0 done (or dry run); 1 partly done; 2 failed (a ramp gate regressed, an
RPC failed); 3 etcd unreachable; 4 refused by a safety check; 64 bad flags or bad
input (a root without manifests, a manifest that is not a Pod).`,
	}
	cmd.AddCommand(
		NewCmdPlan(f, nil),
		NewCmdEtcdOnly(f, nil),
		NewCmdAPIServer(f, nil),
		NewCmdRamp(f, nil),
		NewCmdPurgePods(f, nil),
		NewCmdUndo(f, nil),
		NewCmdJournal(f, nil),
	)
	return cmd
}

// LayoutFlags locate the node's files; every path is inside --root.
type LayoutFlags struct {
	Root, KubeletConfig, ManifestDir, QuarantineDir, StateDir string
}

func (lf *LayoutFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&lf.Root, "root", "/", "root of the node's filesystem: a control-plane disk mounted elsewhere works offline")
	fs.StringVar(&lf.KubeletConfig, "kubelet-config", bg.DefaultKubeletConfig, "kubelet config file whose staticPodPath names the manifest directory")
	fs.StringVar(&lf.ManifestDir, "manifest-dir", "", "static-pod directory (default: the kubelet's staticPodPath, else "+bg.DefaultStaticPodPath+")")
	fs.StringVar(&lf.QuarantineDir, "quarantine-dir", bg.DefaultQuarantine, "where manifests are moved to; must be outside the manifest directory")
	fs.StringVar(&lf.StateDir, "state-dir", bg.DefaultStateDir, "journal and purge archives")
	_ = cmd.MarkFlagDirname("root")
}

func (lf *LayoutFlags) resolve() (*bg.Layout, *bg.Journal, error) {
	l, err := bg.ResolveLayout(bg.LayoutOptions{Root: lf.Root, KubeletConfig: lf.KubeletConfig,
		ManifestDir: lf.ManifestDir, QuarantineDir: lf.QuarantineDir, StateDir: lf.StateDir})
	if err != nil {
		return nil, nil, exitcode.UsageError(err)
	}
	return l, bg.OpenJournal(l.JournalPath()), nil
}

// confirm decides whether to act: --yes, or "y" typed on a terminal. Without
// either the command has printed its plan and stops there.
func confirm(io *iostreams.IOStreams, yes bool, question string) bool {
	if yes {
		return true
	}
	f, ok := io.In.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || !io.IsStderrTTY() {
		fmt.Fprintln(io.ErrOut, "Dry run: nothing changed. Re-run with --yes to do it.")
		return false
	}
	fmt.Fprintf(io.ErrOut, "%s [y/N] ", question)
	line, _ := bufio.NewReader(io.In).ReadString('\n')
	return strings.EqualFold(strings.TrimSpace(line), "y") || strings.EqualFold(strings.TrimSpace(line), "yes")
}

// codeOf maps the breakglass package's errors to exit codes.
func codeOf(err error) error {
	var ee *exitcode.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		return err
	case errors.Is(err, bg.ErrNoManifests), errors.Is(err, bg.ErrNotPod):
		return exitcode.New(exitcode.Usage, err)
	case errors.Is(err, bg.ErrRefused):
		return exitcode.New(exitcode.Refused, err)
	}
	return exitcode.New(exitcode.Critical, err)
}
