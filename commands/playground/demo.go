package playground

import (
	"context"
	"fmt"
	"strings"

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
		fmt.Fprintf(out, "\n%s\n", p.Bold.Render("$ etcdmedic "+shellJoin(s.args)))
		args := append(append([]string(nil), s.args...), opts.Global...)
		if code := opts.RunCommand(ctx, args, opts.IO, getenv); code > s.maxCode {
			return fault.New(fault.Failed, fmt.Sprintf("playground --demo: 'etcdmedic %s' exited %d", shellJoin(s.args), code))
		}
	}

	fmt.Fprintf(out, "\n%s\n", p.Bold.Render("What to try next:"))
	fmt.Fprintln(out, "  etcdmedic playground --seed --fragment      # keep a cluster running, then in another shell:")
	fmt.Fprintln(out, "  "+strings.ReplaceAll(exports(c), "\n", "\n  "))
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

// shellJoin prints args as a shell would need them typed.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " '\"$\\<>|&;*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
