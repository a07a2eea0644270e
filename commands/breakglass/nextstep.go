package breakglass

import (
	"path/filepath"

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
var fileOnly = map[string]bool{"etcd-only": true, "apiserver": true, "journal": true}

// command is `etcdmedic <args>` plus, for a breakglass step, the layout
// flags that differ from the defaults and, for anything that reaches etcd,
// the connection flags of this run.
func (n nextStep) command(args ...string) string {
	argv := append([]string{"etcdmedic"}, args...)
	breakglass := len(args) > 1 && args[0] == "breakglass"
	if breakglass {
		argv = append(argv, layoutArgs(n.layout)...)
	}
	if n.conn != nil && (!breakglass || !fileOnly[args[1]]) {
		argv = append(argv, n.conn()...)
	}
	return cluster.ShellJoin(argv)
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
