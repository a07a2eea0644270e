package doctor

import (
	"github.com/etcdmedic/etcdmedic/exporter"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// writeMetrics writes the report's series when --metrics-file is given:
// the same names the exporter serves, so one set of alert rules reads both.
func writeMetrics(opts *Options, r *health.Report) error {
	if opts.MetricsFile == "" {
		return nil
	}
	if err := exporter.WriteReport(opts.MetricsFile, r, ""); err != nil {
		return fault.Mark(err, fault.Failed)
	}
	return nil
}
