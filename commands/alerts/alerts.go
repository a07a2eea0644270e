// Package alerts implements `etcdmedic alerts`: Prometheus alerting rules
// generated from doctor's thresholds.
package alerts

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/alerts"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
)

type Options struct {
	IO *iostreams.IOStreams

	Preset    string
	Overrides []string
	Format    string
	Name      string
	Namespace string
	alerts.Options
}

// NewAlertsOptions holds the defaults the flags show.
func NewAlertsOptions() *Options {
	return &Options{Preset: health.DefaultPreset, Format: alerts.FormatRules, Name: "etcdmedic", Options: alerts.DefaultOptions()}
}

func NewCmdAlerts(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := NewAlertsOptions()
	opts.IO = f.IOStreams
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "Print Prometheus alerting rules generated from doctor's thresholds",
		Long: `Print Prometheus alerting rules built from the thresholds doctor judges by (--preset,
--set), so an alert fires where doctor says warn or crit:

  over etcd's own metrics   WAL fsync and backend commit p99 (warn and crit, judged only
                            from latency.minObservations observations), leader changes,
                            DB size against the quota (warn and crit)
  over etcdmedic's series   fragmentation, quota ETA (--quota-eta), any critical finding,
                            warnings without an alert of their own, a member down, quorum
                            lost, the exporter's checks failing, snapshot too old
                            (--snapshot-max-age), snapshot and defrag jobs failed, no defrag
                            run in --defrag-max-age

The etcdmedic series come from 'etcdmedic exporter', 'doctor --metrics-file' and the
textfiles of 'snapshot save' and 'defrag'. Every alert has a runbook annotation naming
the etcdmedic command to run. --format rules is a rules file (promtool check rules);
prometheusrule wraps the same groups in a prometheus-operator PrometheusRule; tests
prints each alert's promtool unit tests (a series that fires it, ones that do not), one
YAML document per evaluation interval.

Exit codes: 0 printed; 64 usage error (unknown preset, format or threshold key).`,
		Example: `  # a rules file for Prometheus, OpenShift's thresholds
  etcdmedic alerts --preset openshift > etcdmedic-rules.yaml && promtool check rules etcdmedic-rules.yaml

  # for prometheus-operator, with a slower disk tolerated
  etcdmedic alerts --format prometheusrule --namespace monitoring --set fsync.warn=20ms | kubectl apply -f -`,
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
	fl.StringVar(&opts.Preset, "preset", opts.Preset, "threshold preset, as doctor's: "+strings.Join(health.PresetNames(), ", "))
	fl.StringArrayVar(&opts.Overrides, "set", opts.Overrides, "override one threshold, key=value (repeatable; keys: etcdmedic doctor --help)")
	fl.StringVar(&opts.Format, "format", opts.Format, "output: "+strings.Join(alerts.FormatNames(), ", "))
	fl.StringVar(&opts.Name, "name", opts.Name, "the PrometheusRule's name")
	fl.StringVar(&opts.Namespace, "namespace", opts.Namespace, "the PrometheusRule's namespace")
	fl.StringVar(&opts.EtcdSelector, "etcd-selector", opts.EtcdSelector, "label matchers that select etcd's own series")
	fl.DurationVar(&opts.QuotaETA, "quota-eta", opts.QuotaETA, "warn when the DB reaches its quota within this long")
	fl.DurationVar(&opts.SnapshotMaxAge, "snapshot-max-age", opts.SnapshotMaxAge, "warn when the newest verified snapshot is older")
	fl.DurationVar(&opts.DefragMaxAge, "defrag-max-age", opts.DefragMaxAge, "warn when no defrag job ran for this long")
	_ = cmd.RegisterFlagCompletionFunc("preset", cobra.FixedCompletions(health.PresetNames(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(alerts.FormatNames(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Validate checks flags; nothing here connects anywhere.
func (o *Options) Validate() error {
	t, err := health.Resolve(o.Preset, o.Overrides)
	if err != nil {
		return cmdutil.UsageError(err)
	}
	known := false
	for _, f := range alerts.FormatNames() {
		known = known || f == o.Format
	}
	if !known {
		return cmdutil.UsageError(fmt.Errorf("unknown --format %q: valid formats are %s", o.Format, strings.Join(alerts.FormatNames(), ", ")))
	}
	if err := cmdutil.Check(
		cmdutil.DurationIn("quota-eta", o.QuotaETA, time.Minute, 365*24*time.Hour),
		cmdutil.DurationIn("snapshot-max-age", o.SnapshotMaxAge, time.Minute, 365*24*time.Hour),
		cmdutil.DurationIn("defrag-max-age", o.DefragMaxAge, time.Hour, 365*24*time.Hour),
		cmdutil.NotEmpty("etcd-selector", o.EtcdSelector),
		cmdutil.NotEmpty("name", o.Name),
	); err != nil {
		return err
	}
	o.Thresholds = t
	o.Carry = health.CarryArgs(o.Preset, o.Overrides)
	o.Options.Preset = o.Preset
	return nil
}

func Run(_ context.Context, opts *Options) error {
	data, err := alerts.Render(alerts.Generate(opts.Options), opts.Format, opts.Name, opts.Namespace, "etcdmedic-rules.yaml")
	if err != nil {
		return cmdutil.UsageError(err)
	}
	_, err = opts.IO.Out.Write(data)
	return err
}
