package playground

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/playground"
)

// demoStep is one command the demo runs, and the worst exit code that still
// lets the tour go on (status and doctor report problems by exit code; on a
// loaded machine latency alone can make a member "degraded").
type demoStep struct {
	args    []string
	maxCode int
}

// The playground's database is tens of MiB, under the 100 MiB floor below
// which the doctor does not bother about fragmentation: the demo lowers it,
// and the command it prints says so. Every other setting is the command's
// own default: the steps are the real commands, run through the root.
var demoSteps = []demoStep{
	{[]string{"status"}, 1},
	{[]string{"doctor", "--window", "2s", "--set", "frag.minInUse=1MiB"}, 2},
	// The fix the doctor advised: a rolling defragmentation, leader last.
	{[]string{"defrag", "--rule", "fragmentation >= 0.5"}, 0},
	{[]string{"status"}, 1},
}

func demo(ctx context.Context, opts *Options, c *playground.Cluster) error {
	if opts.RunCommand == nil {
		return fmt.Errorf("playground --demo: no way to run commands was wired in")
	}
	out := opts.IO.Out
	p := opts.IO.Palette()
	getenv := demoEnv(opts.Getenv, exports(c))
	for _, s := range demoSteps {
		fmt.Fprintf(out, "\n%s\n", p.Bold.Render("$ etcdmedic "+cluster.ShellJoin(s.args)))
		args := append(append([]string(nil), s.args...), opts.Global...)
		if code := opts.RunCommand(ctx, args, opts.IO, getenv); code > s.maxCode {
			return fault.New(fault.Failed, fmt.Sprintf("playground --demo: 'etcdmedic %s' exited %d", cluster.ShellJoin(s.args), code))
		}
	}

	fmt.Fprintf(out, "\n%s\n", p.Bold.Render("What to try next:"))
	switch start := cluster.ShellJoin(append([]string{"etcdmedic", "playground", "--seed", "--fragment"}, opts.sameClusterArgs()...)); {
	case opts.Keep:
		fmt.Fprintln(out, "  # this cluster runs until Ctrl-C; in another shell:")
		fmt.Fprintln(out, "  "+strings.ReplaceAll(exports(c), "\n", "\n  "))
	case opts.BasePort != 0 && !opts.TLS:
		// The same ports again: these exports reach the new cluster too.
		fmt.Fprintln(out, "  "+start+"   # keep a cluster running, then in another shell:")
		fmt.Fprintln(out, "  "+strings.ReplaceAll(exports(c), "\n", "\n  "))
	default:
		// Other ports, or certificates in a directory this run removes:
		// only the new run's own export lines are right.
		fmt.Fprintln(out, "  "+start+"   # keep a cluster running, then in another shell")
		fmt.Fprintln(out, "  # paste the export lines it prints, and:")
	}
	fmt.Fprintln(out, "  etcdmedic status -o json                    # the same, for scripts")
	fmt.Fprintln(out, "  etcdmedic status --command-timeout 2s       # a hung member costs at most 2 s")
	fmt.Fprintln(out, "  etcdmedic doctor --all                      # every finding, not only the ones that need attention")
	fmt.Fprintln(out, "  etcdmedic inventory                         # what fills the keyspace")
	fmt.Fprintln(out, "  etcdmedic defrag --dry-run -o json          # the plan, as JSON lines")
	return nil
}

// demoEnv is the environment after the export lines the playground prints:
// its ETCDCTL_* variables and none of the user's (which would point the
// demo at another cluster or hand it foreign credentials); the rest, such as
// NO_COLOR, passes through.
func demoEnv(base func(string) string, exports string) func(string) string {
	vars := map[string]string{}
	for _, line := range strings.Split(exports, "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok {
			vars[k] = v
		}
	}
	return func(k string) string {
		if v, ok := vars[k]; ok {
			return v
		}
		if strings.HasPrefix(k, "ETCDCTL_") || base == nil {
			return ""
		}
		return base(k)
	}
}

// sameClusterArgs are the flags that start a cluster like this one: what
// was given beyond the defaults, but not --data-dir, whose data this run keeps.
func (o *Options) sameClusterArgs() []string {
	var args []string
	def := NewOptions(nil)
	if o.Members != def.Members {
		args = append(args, "--members", strconv.Itoa(o.Members))
	}
	if o.BasePort != def.BasePort {
		args = append(args, "--base-port", strconv.Itoa(o.BasePort))
	}
	if o.QuotaBytes != 0 {
		args = append(args, "--quota-bytes", strconv.FormatInt(o.QuotaBytes, 10))
	}
	if o.TLS {
		args = append(args, "--tls")
	}
	if o.EtcdBinary != "" {
		args = append(args, "--etcd-binary", o.EtcdBinary)
	}
	return args
}
