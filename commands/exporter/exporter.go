// Package exporter implements `etcdmedic exporter`: doctor's cheap checks as
// Prometheus series, served to every scrape.
package exporter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/exporter"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
)

type Options struct {
	IO          *iostreams.IOStreams
	OpenCluster func() (*cluster.Cluster, error)
	Factory     *cmdutil.Factory

	Listen       string
	MinInterval  time.Duration
	GrowthWindow time.Duration
	SnapshotDir  string
	Preset       string
	Overrides    []string

	thresholds health.Thresholds
	// Ready, when set, hears the address the exporter listens on (tests
	// listen on :0).
	Ready func(addr string)
}

// NewExporterOptions holds the defaults the flags show.
func NewExporterOptions() *Options {
	return &Options{Listen: "127.0.0.1:9979", MinInterval: 10 * time.Second, GrowthWindow: time.Hour, Preset: health.DefaultPreset}
}

func NewCmdExporter(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := NewExporterOptions()
	opts.IO, opts.OpenCluster, opts.Factory = f.IOStreams, f.OpenCluster, f
	cmd := &cobra.Command{
		Use:   "exporter",
		Short: "Serve doctor's findings as Prometheus metrics (long-running)",
		Long: `Serve the checks status and the gates run on one sample (members, quorum, leader,
alarms, reads, space, follower lag, defragmentation in flight, WAL fsync and backend
commit p99 since the previous scrape) as Prometheus series at http://ADDR/metrics:

  etcdmedic_finding{check,member,severity}  1 per finding that needs attention
  etcdmedic_db_size_bytes, etcdmedic_db_in_use_bytes, etcdmedic_db_reclaimable_bytes,
  etcdmedic_db_quota_bytes{member}
  etcdmedic_quota_eta_seconds{member}       when the DB reaches its quota at the growth
                                            rate seen over --growth-window (+Inf: not growing)
  etcdmedic_member_up{member}, etcdmedic_voters, etcdmedic_voters_reachable,
  etcdmedic_quorum_margin                   voters that can be lost before quorum is
  etcdmedic_snapshot_age_seconds{dir}       newest verified snapshot (--snapshot-dir)
  etcdmedic_scrape_duration_seconds, etcdmedic_scrape_errors_total, go_*, process_*

A scrape runs the checks unless the last run is younger than --min-interval, then
serves that run. The checks are bounded by --command-timeout (plus half a second for
the member list): a hung member is etcdmedic_member_up 0 and unknown findings, never a
hung scrape. Alert rules over these series: 'etcdmedic alerts'.

Exit codes: 2 the address cannot be listened on (or the server failed); 64 usage
error. Stops on SIGINT/SIGTERM.`,
		Example: `  # beside etcd on a control-plane node
  etcdmedic exporter --listen :9979 --snapshot-dir /var/backups/etcd

  # scrape it
  curl -s localhost:9979/metrics | grep ^etcdmedic_finding`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Listen, "listen", opts.Listen, "address to serve /metrics on (host:port)")
	fl.DurationVar(&opts.MinInterval, "min-interval", opts.MinInterval, "serve the last run of the checks to scrapes closer together than this")
	fl.DurationVar(&opts.GrowthWindow, "growth-window", opts.GrowthWindow, "how far back the DB growth rate behind the quota ETA looks")
	fl.StringVar(&opts.SnapshotDir, "snapshot-dir", opts.SnapshotDir, "report the age of the newest verified snapshot in this directory")
	fl.StringVar(&opts.Preset, "preset", opts.Preset, "threshold preset, as doctor's: "+strings.Join(health.PresetNames(), ", "))
	fl.StringArrayVar(&opts.Overrides, "set", opts.Overrides, "override one threshold, key=value (repeatable; keys: etcdmedic doctor --help)")
	_ = cmd.RegisterFlagCompletionFunc("preset", cobra.FixedCompletions(health.PresetNames(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Validate checks flags before anything connects or listens.
func (o *Options) Validate() error {
	t, err := health.Resolve(o.Preset, o.Overrides)
	if err != nil {
		return cmdutil.UsageError(err)
	}
	if _, _, err := net.SplitHostPort(o.Listen); err != nil {
		return cmdutil.UsageError(fmt.Errorf("--listen %q: want host:port, e.g. :9979 (%v)", o.Listen, err))
	}
	if err := cmdutil.Check(
		cmdutil.DurationIn("min-interval", o.MinInterval, 0, 24*time.Hour),
		cmdutil.DurationIn("growth-window", o.GrowthWindow, time.Second, 30*24*time.Hour),
	); err != nil {
		return err
	}
	o.thresholds = t
	return nil
}

// Run listens first (a taken port fails at once, before any connection to
// etcd), then serves until ctx ends.
func Run(ctx context.Context, opts *Options) error {
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return fault.Mark(fmt.Errorf("listen on %s: %w", opts.Listen, unwrapOp(err)), fault.Failed)
	}
	defer ln.Close()
	c, err := opts.OpenCluster()
	if err != nil {
		return err
	}
	defer c.Close()
	log := opts.Factory.Logger
	e := exporter.New(c, exporter.Options{Thresholds: opts.thresholds, Connection: c.Config.ConnectionFlags(),
		MinInterval: opts.MinInterval, GrowthWindow: opts.GrowthWindow, SnapshotDir: opts.SnapshotDir,
		Deadline: c.Config.CommandTimeout + 500*time.Millisecond, Log: log})
	srv := &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 10 * time.Second}
	if opts.Ready != nil {
		opts.Ready(ln.Addr().String())
	}
	log.Info("exporter listening", "addr", ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fault.Mark(fmt.Errorf("serve on %s: %w", opts.Listen, err), fault.Failed)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fault.Mark(err, fault.Failed)
	}
	return nil
}

// unwrapOp drops net.OpError's "listen tcp ADDR:" prefix, which the message already says.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
