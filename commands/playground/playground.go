// Package playground implements `etcdmedic playground`: a real local etcd
// cluster to try the tool on.
package playground

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/humanize"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/playground"
)

// RunFunc runs one etcdmedic command line (without the program name) on the
// given streams and environment and returns its exit code. The root wires in
// its Execute, a fresh command tree each time, so the demo runs the real
// commands with their own defaults and this package needs none of them.
type RunFunc func(ctx context.Context, args []string, ios *iostreams.IOStreams, getenv func(string) string) int

type Options struct {
	IO         *iostreams.IOStreams
	Members    int
	BasePort   int
	DataDir    string
	QuotaBytes int64
	TLS        bool
	Seed       bool
	Fragment   bool
	Demo       bool
	Keep       bool
	EtcdBinary string

	// For the demo: how to run a command, the environment to run it in,
	// and the global flags to hand on (-v, --no-color).
	RunCommand RunFunc
	Getenv     func(string) string
	Global     []string
}

// NewOptions holds the defaults the flags show.
func NewOptions(ios *iostreams.IOStreams) *Options {
	return &Options{IO: ios, Members: 3, BasePort: 23790}
}

func NewCmdPlayground(f *cmdutil.Factory, run RunFunc) *cobra.Command {
	opts := NewOptions(f.IOStreams)
	opts.RunCommand, opts.Getenv = run, f.Getenv
	cmd := &cobra.Command{
		Use:   "playground",
		Short: "Run a real local etcd cluster with Kubernetes-like data to try etcdmedic on",
		Long: `Start a real etcd cluster on loopback: every member is its own process running the
etcd server code linked into etcdmedic. It prints the endpoints and an
'export ETCDCTL_ENDPOINTS=...' line, then runs until Ctrl-C, when it stops every
member (and removes the data, unless --data-dir was given). Each member shows in ps
as 'etcdmedic playground-member <name> --client-url ... --dir ...'; one that exits
while the playground runs (crashed, killed) is reported on stderr with its log.

--seed writes Kubernetes-like data the way kube-apiserver stores it: protobuf Pods
(mixed phases, namespaces, owners and ages) under /registry/pods/<ns>/<name>, plus
configmaps, events and leases. --fragment then deletes part of it and compacts, so
that defragmentation has something to reclaim.

--demo does all of that, runs 'etcdmedic status' against the cluster, prints what to
try next, and stops (add --keep to leave it running).`,
		Example: `  # the two-minute tour
  etcdmedic playground --demo

  # a cluster to work against, in another terminal
  etcdmedic playground --seed --fragment
  export ETCDCTL_ENDPOINTS=http://127.0.0.1:23790,http://127.0.0.1:23792,http://127.0.0.1:23794
  etcdmedic status

  # mutual TLS
  etcdmedic playground --tls --data-dir /tmp/pg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Members < 1 || opts.Members > 9 {
				return &cmdutil.FlagError{Err: fmt.Errorf("--members must be from 1 to 9, got %d", opts.Members)}
			}
			if opts.BasePort < 0 || opts.BasePort > 65535-2*opts.Members {
				return &cmdutil.FlagError{Err: fmt.Errorf("--base-port %d leaves no room for %d members", opts.BasePort, opts.Members)}
			}
			if opts.Demo {
				opts.Seed, opts.Fragment = true, true
			}
			if f.Global.Verbose {
				opts.Global = append(opts.Global, "--verbose")
			}
			if f.Global.NoColor {
				opts.Global = append(opts.Global, "--no-color")
			}
			return Run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&opts.Members, "members", opts.Members, "number of members")
	fl.IntVar(&opts.BasePort, "base-port", opts.BasePort, "member i listens for clients on base+2i and peers on base+2i+1 (0: any free ports)")
	fl.StringVar(&opts.DataDir, "data-dir", "", "keep member data here (default: a temporary directory, removed on exit)")
	fl.Int64Var(&opts.QuotaBytes, "quota-bytes", 0, "backend quota per member (0: etcd's 2 GiB default); small values make NOSPACE easy to reach")
	fl.BoolVar(&opts.TLS, "tls", false, "generate a CA, server and client certificates and require mutual TLS")
	fl.BoolVar(&opts.Seed, "seed", false, "write Kubernetes-like data")
	fl.BoolVar(&opts.Fragment, "fragment", false, "delete part of the data and compact, leaving free pages to defragment")
	fl.BoolVar(&opts.Demo, "demo", false, "start, seed, fragment, show status, print what to try next, stop")
	fl.BoolVar(&opts.Keep, "keep", false, "with --demo: keep the cluster running until Ctrl-C")
	fl.StringVar(&opts.EtcdBinary, "etcd-binary", "", "run this etcd release binary instead of the linked server code")
	_ = cmd.MarkFlagDirname("data-dir")
	return cmd
}

func Run(ctx context.Context, opts *Options) error {
	out, errOut := opts.IO.Out, opts.IO.ErrOut
	p := opts.IO.Palette()
	ctx, stop := outliveOutput(ctx)
	defer stop()
	fmt.Fprintf(errOut, "starting %d etcd members...\n", opts.Members)
	start := time.Now()
	c, err := playground.Start(ctx, playground.Options{
		Members: opts.Members, Dir: opts.DataDir, BasePort: opts.BasePort,
		QuotaBytes: opts.QuotaBytes, TLS: opts.TLS, EtcdBinary: opts.EtcdBinary,
		OnExit: func(e playground.MemberExit) {
			fmt.Fprintf(errOut, "member %s (pid %d) exited unexpectedly: %s; log: %s\n", e.Name, e.PID, e.Status, e.Log)
		},
	})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(errOut, "stopping the playground...")
		if err := c.Stop(); err != nil {
			fmt.Fprintf(errOut, "warning: %v\n", err)
		}
	}()
	fmt.Fprintf(errOut, "cluster ready in %s (data in %s)\n", humanize.Duration(time.Since(start)), c.Dir())

	if opts.Seed {
		cli, err := c.Client()
		if err != nil {
			return err
		}
		res, err := playground.Seed(ctx, cli, playground.DefaultSeed())
		if err != nil {
			cli.Close()
			return err
		}
		fmt.Fprintf(errOut, "seeded %d keys (%s); pods: %d Running, %d Succeeded, %d Failed, %d Pending\n", res.Keys, humanize.Bytes(res.Bytes),
			res.Phases[corev1.PodRunning], res.Phases[corev1.PodSucceeded], res.Phases[corev1.PodFailed], res.Phases[corev1.PodPending])
		if opts.Fragment {
			fr, err := playground.Fragment(ctx, cli, "")
			if err != nil {
				cli.Close()
				return err
			}
			fmt.Fprintf(errOut, "fragmented: deleted %d keys and compacted at revision %d\n", fr.Deleted, fr.CompactedAt)
		}
		cli.Close()
	}

	env := exports(c)
	fmt.Fprintln(out, p.Bold.Render("endpoints:"), strings.Join(c.Endpoints(), ","))
	fmt.Fprintln(out, env)

	if opts.Demo {
		if err := demo(ctx, opts, c); err != nil {
			return err
		}
		if !opts.Keep {
			return nil
		}
	}
	fmt.Fprintln(errOut, "running; press Ctrl-C to stop")
	<-ctx.Done()
	return nil
}

func exports(c *playground.Cluster) string {
	lines := []string{"export ETCDCTL_ENDPOINTS=" + strings.Join(c.Endpoints(), ",")}
	if t := c.TLS(); t != nil {
		lines = append(lines,
			"export ETCDCTL_CACERT="+t.CA,
			"export ETCDCTL_CERT="+t.ClientCert,
			"export ETCDCTL_KEY="+t.ClientKey)
	}
	return strings.Join(lines, "\n")
}
