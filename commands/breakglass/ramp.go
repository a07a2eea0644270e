package breakglass

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/exitcode"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

type RampOptions struct {
	IO          *iostreams.IOStreams
	OpenCluster func() (*cluster.Cluster, error)
	Format      func() output.Format
	Layout      LayoutFlags

	To, ToMutating int
	Steps          int
	Interval       time.Duration
	ReadyzURL      string
	FsyncP99       float64
	ApplyGap       uint64
	Yes, DryRun    bool
}

func NewCmdRamp(f *cmdutil.Factory, runF func(context.Context, *RampOptions) error) *cobra.Command {
	opts := &RampOptions{IO: f.IOStreams, OpenCluster: f.OpenCluster, Format: f.Format}
	cmd := &cobra.Command{
		Use:   "ramp --to N",
		Short: "Raise the break-glass apiserver's inflight limits step by step, gated on etcd health",
		Long: `Raise --max-requests-inflight (to --to) and --max-mutating-requests-inflight (to
--to-mutating, default half of --to) of the break-glass apiserver in --steps equal
steps. Each step rewrites its manifest (the kubelet restarts the pod), waits
--interval, then checks: every etcd voter answers with no alarm, WAL fsync p99 under
--fsync-p99, commit→apply gap under --apply-gap, and the apiserver's /readyz answers
200. On a failed check it writes the previous step's limits back and stops (exit 2).
Every step is journaled.`,
		Example: `  etcdmedic breakglass ramp --to 400 --steps 4 --interval 2m --yes`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.To < 1 || opts.Steps < 1 || opts.Interval <= 0 {
				return &cmdutil.FlagError{Err: fmt.Errorf("--to and --steps must be at least 1, --interval positive")}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunRamp(cmd.Context(), opts)
		},
	}
	opts.Layout.register(cmd)
	fs := cmd.Flags()
	fs.IntVar(&opts.To, "to", 0, "target --max-requests-inflight")
	fs.IntVar(&opts.ToMutating, "to-mutating", 0, "target --max-mutating-requests-inflight (default --to/2)")
	fs.IntVar(&opts.Steps, "steps", 4, "number of steps")
	fs.DurationVar(&opts.Interval, "interval", time.Minute, "wait after each step before checking (≥ 20 s: the kubelet's file check)")
	fs.StringVar(&opts.ReadyzURL, "readyz-url", "", "apiserver readiness URL (default https://127.0.0.1:<secure-port>/readyz)")
	fs.Float64Var(&opts.FsyncP99, "fsync-p99", 0.1, "highest WAL fsync p99 in seconds a step may leave")
	fs.Uint64Var(&opts.ApplyGap, "apply-gap", 1000, "highest commit→apply gap in entries a step may leave")
	fs.BoolVarP(&opts.Yes, "yes", "y", false, "do it without asking")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "only show the steps")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func RunRamp(ctx context.Context, opts *RampOptions) error {
	l, j, err := opts.Layout.resolve()
	if err != nil {
		return err
	}
	m, err := bg.BreakGlassManifest(l)
	if err != nil {
		return codeOf(err)
	}
	ro := bg.RampOptions{To: opts.To, ToMutating: opts.ToMutating, Steps: opts.Steps, Interval: opts.Interval, DryRun: true}
	plan, err := bg.Ramp(ctx, l, j, ro)
	if err != nil {
		return exitcode.UsageError(err)
	}
	machine := opts.Format().Machine()
	if !machine {
		renderRamp(opts.IO, plan)
	}
	if opts.DryRun || !confirm(opts.IO, opts.Yes, "Start the ramp?") {
		if machine {
			return output.Write(opts.IO.Out, opts.Format(), map[string]any{"dryRun": true, "steps": plan})
		}
		return nil
	}
	c, err := opts.OpenCluster()
	if err != nil {
		return err
	}
	defer c.Close()
	url := opts.ReadyzURL
	if url == "" {
		url = fmt.Sprintf("https://127.0.0.1:%d/readyz", bg.SecurePort(m))
	}
	hc, err := apiserverClient(l, m)
	if err != nil {
		return exitcode.UsageError(err)
	}
	ro.DryRun = false
	ro.Gate = bg.AllGates(bg.EtcdGate(c, bg.EtcdThresholds{FsyncP99: opts.FsyncP99, ApplyGap: opts.ApplyGap}), bg.ReadyzGate(hc, url, 10*time.Second))
	steps, err := bg.Ramp(ctx, l, j, ro)
	if machine {
		if werr := output.Write(opts.IO.Out, opts.Format(), map[string]any{"dryRun": false, "steps": steps}); werr != nil {
			return werr
		}
	} else {
		fmt.Fprintln(opts.IO.Out)
		renderRamp(opts.IO, steps)
	}
	return codeOf(err)
}

// apiserverClient trusts the cluster CA (--client-ca-file, which signs the
// serving certificate on kubeadm) and names the server "kubernetes": the
// certificate has no 127.0.0.1. /readyz is open to anonymous requests.
func apiserverClient(l *bg.Layout, m *bg.Manifest) (*http.Client, error) {
	caFile := bg.APIServerFlags(m).Get("client-ca-file")
	cfg := &tls.Config{ServerName: "kubernetes", MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(filepath.Join(l.Root, caFile))
		if err != nil {
			return nil, fmt.Errorf("apiserver CA: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("apiserver CA %s: no certificate", caFile)
		}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}, nil
}

func renderRamp(io *iostreams.IOStreams, steps []bg.RampStep) {
	t := output.NewTable(io.Out, io.IsStdoutTTY(), "STEP", "MAX INFLIGHT", "MAX MUTATING", "RESULT", "DETAIL")
	for i, s := range steps {
		t.Row(fmt.Sprint(i+1), fmt.Sprint(s.MaxRequestsInflight), fmt.Sprint(s.MaxMutatingRequestsInflight), s.Result, s.Detail)
	}
	_ = t.Render()
}
