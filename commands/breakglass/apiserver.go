package breakglass

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/exitcode"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

type APIServerOptions struct {
	IO        *iostreams.IOStreams
	Format    func() output.Format
	Layout    LayoutFlags
	Localhost bool
	From      string
	Yes       bool
	DryRun    bool
	Gen       bg.APIServerOptions
}

func NewCmdAPIServer(f *cmdutil.Factory, runF func(context.Context, *APIServerOptions) error) *cobra.Command {
	opts := &APIServerOptions{IO: f.IOStreams, Format: f.Format}
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
the directory (two pods of one name). Removed again by 'breakglass undo'.`,
		Example: `  etcdmedic breakglass apiserver --localhost --dry-run -o yaml   # print the manifest
  etcdmedic breakglass apiserver --localhost --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !opts.Localhost {
				return &cmdutil.FlagError{Err: fmt.Errorf("--localhost is required: it is the only break-glass mode")}
			}
			if opts.Gen.MaxRequestsInflight < 1 || opts.Gen.MaxMutatingRequestsInflight < 1 {
				return &cmdutil.FlagError{Err: fmt.Errorf("inflight limits must be at least 1")}
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
	fs.BoolVarP(&opts.Yes, "yes", "y", false, "do it without asking")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "print the manifest, write nothing")
	return cmd
}

type apiServerResult struct {
	DryRun   bool   `json:"dryRun"`
	Path     string `json:"path"`
	Source   string `json:"source"`
	Manifest string `json:"manifest"`
	Port     int    `json:"port"`
}

func RunAPIServer(_ context.Context, opts *APIServerOptions) error {
	l, j, err := opts.Layout.resolve()
	if err != nil {
		return err
	}
	var src *bg.Manifest
	if opts.From != "" {
		data, err := os.ReadFile(opts.From)
		if err != nil {
			return exitcode.UsageError(fmt.Errorf("--from: %w", err))
		}
		if src, err = bg.ParseManifest(opts.From, data); err != nil {
			return codeOf(err)
		}
	} else {
		entries, err := j.Read()
		if err != nil {
			return codeOf(err)
		}
		if src, err = bg.FindOriginalAPIServer(l, entries); err != nil {
			return exitcode.New(exitcode.Refused, err)
		}
	}
	data, err := bg.GenerateAPIServer(src, opts.Gen)
	if err != nil {
		return exitcode.UsageError(err)
	}
	res := apiServerResult{DryRun: true, Path: l.Rel(l.ManifestDir) + "/" + bg.BreakGlassFileName, Source: l.Rel(src.Path), Manifest: string(data), Port: bg.SecurePort(src)}
	machine := opts.Format().Machine()
	if !machine {
		fmt.Fprintf(opts.IO.Out, "# break-glass manifest for %s, from %s\n%s", res.Path, res.Source, data)
	}
	if opts.DryRun || !confirm(opts.IO, opts.Yes, "Write it?") {
		if machine {
			return output.Write(opts.IO.Out, opts.Format(), res)
		}
		return nil
	}
	if _, err := bg.WriteAPIServer(l, j, data); err != nil {
		return codeOf(err)
	}
	res.DryRun = false
	if machine {
		return output.Write(opts.IO.Out, opts.Format(), res)
	}
	a := bg.APIServerFlags(src)
	fmt.Fprintf(opts.IO.Out, `
Written %s; the kubelet starts it within ~20 s.
Reach it from this node only (the serving certificate has no 127.0.0.1, hence the server name):
  kubectl --kubeconfig /etc/kubernetes/super-admin.conf --server https://127.0.0.1:%d --tls-server-name kubernetes get --raw /readyz
or a kubeconfig like:
%s
A client certificate in group system:masters is exempt from priority-and-fairness, so
your requests get through however low the limits; everyone else's are throttled.
`, res.Path, res.Port, bg.Kubeconfig(res.Port, firstNonEmpty(a.Get("client-ca-file"), "/etc/kubernetes/pki/ca.crt"), "<admin client certificate>", "<admin client key>"))
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
