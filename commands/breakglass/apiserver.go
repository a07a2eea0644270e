package breakglass

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	"github.com/etcdmedic/etcdmedic/internal/step"
)

type APIServerOptions struct {
	IO         *iostreams.IOStreams
	Format     func() output.Format
	Connection func() []string // flags for the next steps printed
	Layout     LayoutFlags
	Localhost  bool
	From       string
	Confirmation
	Gen bg.APIServerOptions
}

func NewCmdAPIServer(f *cmdutil.Factory, runF func(context.Context, *APIServerOptions) error) *cobra.Command {
	opts := &APIServerOptions{IO: f.IOStreams, Format: f.Format, Connection: connectionOf(f)}
	cmd := &cobra.Command{
		Use:   "apiserver --localhost",
		Short: "Write a throttled kube-apiserver manifest bound to 127.0.0.1",
		Long: `Write a break-glass kube-apiserver manifest into the static-pod directory, derived
from the original that 'etcd-only' quarantined (or --from FILE):

  --bind-address=127.0.0.1            nothing off the node can connect
  probes rewritten to 127.0.0.1       else the kubelet kills it for failed probes
  --endpoint-reconciler-type=none     it never publishes itself as the kubernetes service
  --etcd-servers                      the local member only
  --max-requests-inflight, --max-mutating-requests-inflight   low (20/10 by default)
  --watch-cache=false                 no start-up list of every resource
  admission webhooks disabled         their backends are down; failurePolicy Fail would block writes

Certificates, --etcd-prefix and --encryption-provider-config are kept: encrypted
objects stay readable. Refused while the original kube-apiserver manifest is still in
the directory (two pods of one name). Removed again by 'breakglass undo'.

-o yaml prints the Pod manifest itself (what is, or would be, written); -o json the
result with the manifest as a string.`,
		Example: `  etcdmedic breakglass apiserver --localhost --dry-run -o yaml > kube-apiserver.yaml   # the manifest
  etcdmedic breakglass apiserver --localhost --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !opts.Localhost {
				return cmdutil.UsageError(fmt.Errorf("--localhost is required: it is the only break-glass mode"))
			}
			if err := intIn("max-requests-inflight", opts.Gen.MaxRequestsInflight, 1, maxInflight); err != nil {
				return err
			}
			if err := intIn("max-mutating-requests-inflight", opts.Gen.MaxMutatingRequestsInflight, 1, maxInflight); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunAPIServer(cmd.Context(), opts)
		},
	}
	opts.Layout.register(cmd)
	fs := cmd.Flags()
	fs.BoolVar(&opts.Localhost, "localhost", false, "bind to 127.0.0.1 (required)")
	fs.StringVar(&opts.From, "from", "", "original kube-apiserver manifest (default: the one etcd-only quarantined)")
	fs.IntVar(&opts.Gen.MaxRequestsInflight, "max-requests-inflight", 20, "non-mutating requests in flight")
	fs.IntVar(&opts.Gen.MaxMutatingRequestsInflight, "max-mutating-requests-inflight", 10, "mutating requests in flight")
	fs.StringVar(&opts.Gen.EtcdServers, "etcd-servers", "", "etcd URLs (default: the original's loopback entries, else https://127.0.0.1:2379)")
	fs.BoolVar(&opts.Gen.WatchCache, "watch-cache", false, "keep the watch cache (lists every resource at start-up)")
	opts.Confirmation.register(cmd, "print the manifest, write nothing")
	return cmd
}

// APIServerResult is the manifest planned (dryRun) or written.
type APIServerResult struct {
	DryRun   bool   `json:"dryRun"`
	Path     string `json:"path"`
	Source   string `json:"source"`
	Manifest string `json:"manifest"`
	Port     int    `json:"port"`
	Next     string `json:"next,omitempty"`
	Undo     string `json:"undo,omitempty"`
	caFile   string
}

// YAMLDocument makes -o yaml the manifest itself.
func (r *APIServerResult) YAMLDocument() []byte { return []byte(r.Manifest) }

func RunAPIServer(ctx context.Context, opts *APIServerOptions) error {
	l, j, err := opts.Layout.resolve()
	if err != nil {
		return err
	}
	var src *bg.Manifest
	if opts.From != "" {
		data, err := os.ReadFile(opts.From)
		if err != nil {
			return cmdutil.UsageError(fmt.Errorf("--from: %w", err))
		}
		if src, err = bg.ParseManifest(opts.From, data); err != nil {
			return err
		}
	} else {
		entries, err := j.Read()
		if err != nil {
			return err
		}
		if src, err = bg.FindOriginalAPIServer(l, entries); err != nil {
			return nextStep{layout: opts.Layout, conn: opts.Connection}.priorStep(err)
		}
	}
	data, err := bg.GenerateAPIServer(src, opts.Gen)
	if err != nil {
		return err
	}
	next := nextStep{layout: opts.Layout, conn: opts.Connection}
	res := func(dry bool) *APIServerResult {
		return &APIServerResult{DryRun: dry, Path: l.Rel(l.ManifestDir) + "/" + bg.BreakGlassFileName, Source: l.Rel(src.Path),
			Manifest: string(data), Port: bg.SecurePort(src), caFile: firstNonEmpty(bg.APIServerFlags(src).Get("client-ca-file"), "/etc/kubernetes/pki/ca.crt")}
	}
	s := step.Step[*APIServerResult]{
		Exclusive: l.Exclusive,
		Plan: func(context.Context) (step.Plan[*APIServerResult], error) {
			// Refused now, before asking, rather than after a "y"; a dry
			// run still shows the manifest, and says it would be refused.
			if err := bg.CheckAPIServerSlot(l); err != nil {
				if !opts.DryRun {
					return step.Plan[*APIServerResult]{}, next.priorStep(err)
				}
				fmt.Fprintf(opts.IO.ErrOut, "Note: --yes would be refused now: %v\n", err)
				if prior := bg.PriorStep(err); prior != nil {
					fmt.Fprintf(opts.IO.ErrOut, "  → %s\n", next.command(prior...))
				}
			}
			r := res(true)
			return step.Plan[*APIServerResult]{Question: "Write it?", Preview: r,
				Changes: []step.Change{{Action: "write", Target: r.Path, Line: fmt.Sprintf("write %s from %s", r.Path, r.Source)}}}, nil
		},
		Apply: func(context.Context) (*APIServerResult, error) {
			if _, err := bg.WriteAPIServer(l, j, data); err != nil {
				return nil, err
			}
			r := res(false)
			r.Next = next.command("breakglass", "purge-pods", "--dry-run")
			r.Undo = next.command("breakglass", "undo")
			return r, nil
		},
	}
	_, err = step.Run(ctx, opts.Confirmation.options(opts.IO, opts.Format()), s)
	return err
}

func (r *APIServerResult) Table(io *iostreams.IOStreams) error {
	if r.DryRun {
		_, err := fmt.Fprintf(io.Out, "# break-glass manifest for %s, from %s\n%s", r.Path, r.Source, r.Manifest)
		return err
	}
	fmt.Fprintf(io.Out, `
Written %s; the kubelet starts it within ~20 s.
Reach it from this node only (the serving certificate has no 127.0.0.1, hence the server name):
  kubectl --kubeconfig /etc/kubernetes/super-admin.conf --server https://127.0.0.1:%d --tls-server-name kubernetes get --raw /readyz
or a kubeconfig like:
%s
A client certificate in group system:masters is exempt from priority-and-fairness, so
your requests get through however low the limits; everyone else's are throttled.
`, r.Path, r.Port, bg.Kubeconfig(r.Port, r.caFile, "<admin client certificate>", "<admin client key>"))
	printNext(io, r.Next, r.Undo)
	return nil
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
