package breakglass

import (
	"path/filepath"
	"slices"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
)

// nextStep writes the commands the group prints as next steps (Next: …,
// Undo: …, the plan's runbook) with the flags in effect, so that one run as
// printed finds the same files, journal and cluster. A printed undo without
// --state-dir once found another journal and offered to replay another purge.
type nextStep struct {
	layout LayoutFlags
	// conn gives the connection flags of this run (nil: none).
	conn func() []string
}

// connectionOf is the connection flags this run was given, for next steps:
// cluster.Config.ConnectionArgs (never a password). A configuration that
// does not resolve adds none; the command that needs it says why.
func connectionOf(f *cmdutil.Factory) func() []string {
	return func() []string {
		cfg, err := f.ClusterConfig()
		if err != nil {
			return nil
		}
		return cfg.ConnectionArgs()
	}
}

// fileOnly are the breakglass steps that never reach etcd: connection
// flags would only be noise on them.
var fileOnly = map[string]bool{"etcd-only": true, "apiserver": true, "journal": true, "survivors": true}

// command is `etcdmedic <args>` plus, for a breakglass step, the layout
// flags that differ from the defaults and, for anything that reaches etcd,
// the connection flags of this run.
func (n nextStep) command(args ...string) string {
	argv := append([]string{"etcdmedic"}, args...)
	breakglass := len(args) > 1 && args[0] == "breakglass"
	if breakglass {
		argv = append(argv, layoutArgsFor(args, n.layout)...)
	}
	if n.conn != nil && (!breakglass || !fileOnly[args[1]]) {
		argv = append(argv, n.conn()...)
	}
	return cluster.ShellJoin(argv)
}

// layoutArgsFor are the layout flags for one printed breakglass step: a
// step that names its own --root (another member's disk) keeps it, and
// survivors, which reads other disks and keeps no journal, takes only the
// flags that find a manifest directory under each root.
func layoutArgsFor(args []string, lf LayoutFlags) []string {
	if slices.Contains(args, "--root") {
		lf.Root = ""
	}
	if args[1] == "survivors" {
		lf.StateDir, lf.QuarantineDir = "", ""
	}
	return layoutArgs(lf)
}

func layoutArgs(lf LayoutFlags) []string {
	var out []string
	add := func(flag, v, def string) {
		if v != "" && v != def {
			out = append(out, "--"+flag, v)
		}
	}
	root := lf.Root
	if abs, err := filepath.Abs(root); err == nil && root != "" {
		root = abs // the printed line may be run from another directory
	}
	add("root", root, "/")
	add("kubelet-config", lf.KubeletConfig, bg.DefaultKubeletConfig)
	add("manifest-dir", lf.ManifestDir, "")
	add("quarantine-dir", lf.QuarantineDir, bg.DefaultQuarantine)
	add("state-dir", lf.StateDir, bg.DefaultStateDir)
	return out
}

// priorStep attaches to a refusal that asks for an earlier step first that
// step's command with the flags in effect (the capability names it bare).
func (n nextStep) priorStep(err error) error {
	if step := bg.PriorStep(err); step != nil {
		return cmdutil.Suggest(err, n.command(step...))
	}
	return err
}
