package breakglass

import (
	"path/filepath"
	"strings"
	"time"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/step"
)

// nextStep writes the commands the group prints as next steps (Next: …,
// Undo: …, the plan's runbook) with the flags in effect, so that one run as
// printed finds the same files, journal and cluster. A printed undo without
// --state-dir once found another journal and offered to replay another purge.
type nextStep struct {
	layout LayoutFlags
	global *cmdutil.GlobalOptions
}

// fileOnly are the breakglass steps that never reach etcd: connection
// flags would only be noise on them.
var fileOnly = map[string]bool{"etcd-only": true, "apiserver": true, "journal": true}

// command is `etcdmedic <args>` plus, for a breakglass step, the layout
// flags that differ from the defaults and, for anything that reaches etcd,
// the connection flags given. Never a password.
func (n nextStep) command(args ...string) string {
	argv := append([]string{"etcdmedic"}, args...)
	breakglass := len(args) > 1 && args[0] == "breakglass"
	if breakglass {
		argv = append(argv, layoutArgs(n.layout)...)
	}
	if !breakglass || !fileOnly[args[1]] {
		argv = append(argv, connectionArgs(n.global)...)
	}
	return step.Command(argv...)
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

// connectionArgs are the global connection flags given on the command line;
// what came from ETCDCTL_* or the kubeadm manifest is found again the same
// way. The password is never printed: --user keeps only the name, and
// ETCDCTL_PASSWORD or the prompt supply the rest.
func connectionArgs(g *cmdutil.GlobalOptions) []string {
	if g == nil {
		return nil
	}
	var out []string
	str := func(flag, v string) {
		if v != "" {
			out = append(out, "--"+flag, v)
		}
	}
	dur := func(flag string, v, def time.Duration) {
		if v != 0 && v != def {
			out = append(out, "--"+flag, v.String())
		}
	}
	if len(g.Endpoints) > 0 {
		out = append(out, "--endpoints", strings.Join(g.Endpoints, ","))
	}
	str("cacert", g.CACert)
	str("cert", g.Cert)
	str("key", g.Key)
	name, _, _ := strings.Cut(g.User, ":")
	str("user", name)
	if g.InsecureSkipTLSVerify {
		out = append(out, "--insecure-skip-tls-verify")
	}
	if g.Manifest != cluster.DefaultManifest {
		str("manifest", g.Manifest)
	}
	dur("dial-timeout", g.DialTimeout, cluster.DefaultDialTimeout)
	dur("command-timeout", g.CommandTimeout, cluster.DefaultCommandTimeout)
	return out
}
