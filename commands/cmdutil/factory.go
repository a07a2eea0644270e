// Package cmdutil is the plumbing every command shares: global flags, the
// I/O bundle, the cluster connection, and errors that carry exit codes.
package cmdutil

import (
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

// GlobalOptions are the flags every command takes (etcdctl-compatible names).
type GlobalOptions struct {
	Endpoints             []string
	CACert, Cert, Key     string
	User, Password        string
	InsecureSkipTLSVerify bool
	DialTimeout           time.Duration
	CommandTimeout        time.Duration
	Manifest              string
	Output                output.FormatFlag
	NoColor               bool
	Verbose               bool
}

// Factory hands commands what they need without globals, so a test can run
// any command in-process against buffers and its own environment.
type Factory struct {
	IOStreams *iostreams.IOStreams
	Global    *GlobalOptions
	Getenv    func(string) string
	Logger    *slog.Logger

	flags *pflag.FlagSet
	// resolved is the configuration this run connected with, for the next
	// step printed after its error.
	resolved *cluster.Config
}

func NewFactory(ios *iostreams.IOStreams, getenv func(string) string) *Factory {
	return &Factory{
		IOStreams: ios,
		Global:    &GlobalOptions{},
		Getenv:    getenv,
		Logger:    slog.New(slog.DiscardHandler),
	}
}

// AddGlobalFlags registers the global flags on the root command.
func (f *Factory) AddGlobalFlags(root *cobra.Command) {
	g, fs := f.Global, root.PersistentFlags()
	f.flags = fs
	fs.StringSliceVar(&g.Endpoints, "endpoints", nil, "etcd client URLs, comma-separated (env ETCDCTL_ENDPOINTS; default: kubeadm manifest, else "+cluster.DefaultEndpoint+")")
	fs.StringVar(&g.CACert, "cacert", "", "CA bundle to verify the servers (env ETCDCTL_CACERT)")
	fs.StringVar(&g.Cert, "cert", "", "client certificate (env ETCDCTL_CERT)")
	fs.StringVar(&g.Key, "key", "", "client private key (env ETCDCTL_KEY)")
	fs.StringVar(&g.User, "user", "", "username[:password] for etcd auth (env ETCDCTL_USER)")
	fs.StringVar(&g.Password, "password", "", "password for etcd auth; prefer env ETCDCTL_PASSWORD, which stays out of the process list")
	fs.BoolVar(&g.InsecureSkipTLSVerify, "insecure-skip-tls-verify", false, "accept any server certificate (never in production)")
	fs.DurationVar(&g.DialTimeout, "dial-timeout", cluster.DefaultDialTimeout, "time to connect to one endpoint (env ETCDCTL_DIAL_TIMEOUT)")
	fs.DurationVar(&g.CommandTimeout, "command-timeout", cluster.DefaultCommandTimeout, "deadline for each member's requests; a hung member costs at most this (env ETCDCTL_COMMAND_TIMEOUT)")
	fs.StringVar(&g.Manifest, "manifest", cluster.DefaultManifest, "kubeadm etcd static-pod manifest, read for endpoints and certificates when none are given")
	fs.VarP(&g.Output, "output", "o", "output format: table, wide (every column, however narrow the terminal), json or yaml")
	fs.BoolVar(&g.NoColor, "no-color", false, "no colour in tables (also: env NO_COLOR)")
	fs.BoolVarP(&g.Verbose, "verbose", "v", false, "log to stderr what the tool does, and where each setting came from")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(output.Formats, cobra.ShellCompDirectiveNoFileComp))
	_ = root.MarkPersistentFlagFilename("cacert")
	_ = root.MarkPersistentFlagFilename("cert")
	_ = root.MarkPersistentFlagFilename("key")
	_ = root.MarkPersistentFlagFilename("manifest", "yaml", "yml")
}

// Format is the chosen output format.
func (f *Factory) Format() output.Format {
	if f.Global.Output.Value == "" {
		return output.Table
	}
	return f.Global.Output.Value
}

func (f *Factory) changed(name string) bool {
	if f.flags == nil {
		return false
	}
	fl := f.flags.Lookup(name)
	return fl != nil && fl.Changed
}

// ClusterConfig resolves the connection settings (flag > env > kubeadm > default)
// and, with -v, logs where each came from.
func (f *Factory) ClusterConfig() (*cluster.Config, error) {
	g := f.Global
	cfg, err := cluster.Resolve(cluster.Inputs{
		Endpoints: g.Endpoints, CACert: g.CACert, Cert: g.Cert, Key: g.Key,
		User: g.User, Password: g.Password, InsecureSkipTLSVerify: g.InsecureSkipTLSVerify,
		DialTimeout: g.DialTimeout, CommandTimeout: g.CommandTimeout, Manifest: g.Manifest,
		Set: f.changed, Getenv: f.Getenv,
	})
	if err != nil {
		return nil, err
	}
	if err := f.promptPassword(cfg); err != nil {
		return nil, err
	}
	for _, line := range cfg.Describe() {
		f.Logger.Info("setting", "value", line)
	}
	f.resolved = cfg
	return cfg, nil
}

// OpenCluster resolves the configuration and prepares connections.
func (f *Factory) OpenCluster() (*cluster.Cluster, error) {
	cfg, err := f.ClusterConfig()
	if err != nil {
		return nil, err
	}
	return cluster.Open(cfg, f.Logger)
}
