package breakglass

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	"github.com/etcdmedic/etcdmedic/internal/step"
)

type RampOptions struct {
	IO          *iostreams.IOStreams
	OpenCluster func() (*cluster.Cluster, error)
	Format      func() output.Format
	Connection  func() []string // flags for the next steps printed
	Layout      LayoutFlags

	To, ToMutating int
	Steps          int
	Interval       time.Duration
	ReadyzURL      string
	FsyncP99       float64
	ApplyGap       uint64
	Confirmation

	// Tick is how often a waiting step reports (default: 2 s on a
	// terminal, 30 s into a log).
	Tick time.Duration
}

func NewCmdRamp(f *cmdutil.Factory, runF func(context.Context, *RampOptions) error) *cobra.Command {
	opts := &RampOptions{IO: f.IOStreams, OpenCluster: f.OpenCluster, Format: f.Format, Connection: connectionOf(f)}
	cmd := &cobra.Command{
		Use:   "ramp --to N",
		Short: "Raise the break-glass apiserver's inflight limits step by step, gated on etcd health",
		Long: `Raise --max-requests-inflight (to --to) and --max-mutating-requests-inflight (to
--to-mutating, default half of --to) of the break-glass apiserver in --steps equal
steps. Each step rewrites its manifest (the kubelet restarts the pod), waits
--interval (at least 20 s, the kubelet's look at its directory), then checks: every
etcd voter answers with no alarm, WAL fsync p99 under --fsync-p99, commit→apply gap
under --apply-gap, and the apiserver's /readyz answers 200. On a failed check it
writes the previous step's limits back and stops (exit 2). Every step is journaled,
and stderr shows each step as it goes: written, the time left of its interval, its
result.`,
		Example: `  etcdmedic breakglass ramp --to 400 --steps 4 --interval 2m --dry-run
  etcdmedic breakglass ramp --to 400 --steps 4 --interval 2m --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.validate(); err != nil {
				return err
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
	fs.DurationVar(&opts.Interval, "interval", time.Minute, "wait after each step before checking (at least 20s: the kubelet's file check)")
	fs.StringVar(&opts.ReadyzURL, "readyz-url", "", "apiserver readiness URL (default https://127.0.0.1:<secure-port>/readyz)")
	fs.Float64Var(&opts.FsyncP99, "fsync-p99", 0.1, "highest WAL fsync p99 in seconds a step may leave")
	fs.Uint64Var(&opts.ApplyGap, "apply-gap", 1000, "highest commit→apply gap in entries a step may leave")
	opts.Confirmation.register(cmd, "only show the steps")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func (opts *RampOptions) validate() error {
	if opts.Interval < bg.MinRampInterval {
		return cmdutil.UsageError(fmt.Errorf("--interval %s is below %s: the kubelet looks at its static-pod directory every 20 s, so the gate would judge the pod with the old limits", opts.Interval, bg.MinRampInterval))
	}
	for _, err := range []error{
		intIn("to", opts.To, 1, maxInflight),
		intIn("to-mutating", opts.ToMutating, 0, maxInflight), // 0: half of --to
		intIn("steps", opts.Steps, 1, maxSteps),
		durationIn("interval", opts.Interval, bg.MinRampInterval, maxInterval),
		finite("fsync-p99", opts.FsyncP99, 0, true),
	} {
		if err != nil {
			return err
		}
	}
	if opts.ApplyGap < 1 {
		return cmdutil.UsageError(fmt.Errorf("--apply-gap %d: want at least 1 (a member always applies a little behind its commits)", opts.ApplyGap))
	}
	return nil
}

// RampResult is the steps planned (dryRun) or run.
type RampResult struct {
	DryRun bool          `json:"dryRun"`
	Steps  []bg.RampStep `json:"steps"`
	Undo   string        `json:"undo,omitempty"`
}

func RunRamp(ctx context.Context, opts *RampOptions) error {
	l, j, err := opts.Layout.resolve()
	if err != nil {
		return err
	}
	m, err := bg.BreakGlassManifest(l)
	if err != nil {
		return nextStep{layout: opts.Layout, conn: opts.Connection}.priorStep(err)
	}
	ro := bg.RampOptions{To: opts.To, ToMutating: opts.ToMutating, Steps: opts.Steps, Interval: opts.Interval}
	s := step.Step[*RampResult]{
		Exclusive: l.Exclusive,
		Plan: func(ctx context.Context) (step.Plan[*RampResult], error) {
			dry := ro
			dry.DryRun = true
			steps, err := bg.Ramp(ctx, l, j, dry)
			if err != nil {
				return step.Plan[*RampResult]{}, err
			}
			p := step.Plan[*RampResult]{Question: "Start the ramp?", Preview: &RampResult{DryRun: true, Steps: steps}}
			for i, s := range steps {
				p.Changes = append(p.Changes, step.Change{Action: "set-limits", Target: l.Rel(m.Path),
					Line: fmt.Sprintf("step %d: inflight %d/%d, then wait %s and check etcd and /readyz", i+1, s.MaxRequestsInflight, s.MaxMutatingRequestsInflight, opts.Interval)})
			}
			return p, nil
		},
		Apply: func(ctx context.Context) (*RampResult, error) {
			c, err := opts.OpenCluster()
			if err != nil {
				return nil, err
			}
			defer c.Close()
			gate, err := rampGate(l, m, c, opts)
			if err != nil {
				return nil, err
			}
			run := ro
			run.Gate = gate
			pr := newRampProgress(opts.IO)
			run.Progress, run.Tick = pr.report, pr.tick(opts.Tick)
			steps, err := bg.Ramp(ctx, l, j, run)
			pr.done()
			if steps == nil {
				return nil, err
			}
			return &RampResult{Steps: steps, Undo: nextStep{layout: opts.Layout, conn: opts.Connection}.command("breakglass", "undo")}, err
		},
	}
	_, err = step.Run(ctx, opts.Confirmation.options(opts.IO, opts.Format()), s)
	return err
}

// rampGate is what each step must pass: etcd healthy, then the apiserver ready.
func rampGate(l *bg.Layout, m *bg.Manifest, c *cluster.Cluster, opts *RampOptions) (func(context.Context) error, error) {
	url := opts.ReadyzURL
	if url == "" {
		url = fmt.Sprintf("https://127.0.0.1:%d/readyz", bg.SecurePort(m))
	}
	hc, err := apiserverClient(l, m)
	if err != nil {
		return nil, fault.Mark(err, fault.Invalid) // the manifest names a CA that is not there
	}
	return bg.AllGates(bg.EtcdGate(c, bg.EtcdThresholds{FsyncP99: opts.FsyncP99, ApplyGap: opts.ApplyGap}), bg.ReadyzGate(hc, url, 10*time.Second)), nil
}

// apiserverClient trusts the cluster CA (--client-ca-file, which signs the
// serving certificate on kubeadm) and names the server "kubernetes": the
// certificate has no 127.0.0.1. /readyz is open to anonymous requests.
func apiserverClient(l *bg.Layout, m *bg.Manifest) (*http.Client, error) {
	caFile := bg.APIServerFlags(m).Get("client-ca-file")
	cfg := &tls.Config{ServerName: "kubernetes", MinVersion: tls.VersionTLS12}
	if caFile != "" {
		real, err := l.Resolve(caFile) // the node's CA, also through its symlinks
		if err != nil {
			return nil, fmt.Errorf("apiserver CA: %w", err)
		}
		pem, err := os.ReadFile(real)
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

func (r *RampResult) Table(io *iostreams.IOStreams) error {
	if !r.DryRun {
		fmt.Fprintln(io.Out)
	}
	t := output.NewTable(io.Out, io.IsStdoutTTY(), "STEP", "MAX INFLIGHT", "MAX MUTATING", "RESULT", "DETAIL")
	for i, s := range r.Steps {
		t.Row(fmt.Sprint(i+1), fmt.Sprint(s.MaxRequestsInflight), fmt.Sprint(s.MaxMutatingRequestsInflight), s.Result, s.Detail)
	}
	if err := t.Render(); err != nil {
		return err
	}
	printNext(io, "", r.Undo)
	return nil
}
