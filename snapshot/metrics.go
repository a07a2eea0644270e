package snapshot

import (
	"time"

	"github.com/etcdmedic/etcdmedic/internal/promfile"
)

// RunMetrics is what one scheduled run reports to a Prometheus textfile
// collector (node_exporter --collector.textfile.directory).
type RunMetrics struct {
	Success     bool
	Finished    time.Time
	Duration    time.Duration
	Save        *SaveResult // nil when the save failed
	Pruned      int
	PruneFailed bool
	// Dir is listed for the newest verified snapshot and the directory totals,
	// so a failed run still reports when the last good snapshot was taken.
	// Entries the run rechecked and found changed must come marked unverified.
	Dir []Entry
}

// WriteMetricsFile writes the textfile atomically (the collector never reads a torn file).
func WriteMetricsFile(path string, m RunMetrics) error {
	return promfile.WriteSet(path, Metrics(m))
}

// Metrics is the run's outcome as metrics.
func Metrics(m RunMetrics) *promfile.Set {
	s := promfile.New()
	g := func(name, help string, v float64) { s.Gauge(name, help).Set(v) }
	g("etcdmedic_snapshot_success", "1 if the last snapshot run saved and verified a snapshot.", promfile.Bool(m.Success))
	g("etcdmedic_snapshot_last_run_timestamp_seconds", "When the last snapshot run finished.", float64(m.Finished.Unix()))
	g("etcdmedic_snapshot_duration_seconds", "How long the last snapshot run took.", m.Duration.Seconds())
	if sv := m.Save; sv != nil && sv.Metadata != nil {
		g("etcdmedic_snapshot_size_bytes", "Size of the snapshot saved by the last run.", float64(sv.Metadata.Size))
		g("etcdmedic_snapshot_revision", "etcd revision of the snapshot saved by the last run.", float64(sv.Metadata.Revision))
		g("etcdmedic_snapshot_throughput_bytes_per_second", "Stream throughput of the last save.", sv.BytesPerSecond)
	}
	g("etcdmedic_snapshot_pruned_files", "Snapshots deleted by the last run's retention.", float64(m.Pruned))
	g("etcdmedic_snapshot_prune_failed", "1 if the last run's retention failed.", promfile.Bool(m.PruneFailed))
	newest, total := NewestVerified(m.Dir)
	if !newest.IsZero() {
		g("etcdmedic_snapshot_last_success_timestamp_seconds", "Creation time of the newest verified snapshot in the directory.", float64(newest.Unix()))
	}
	g("etcdmedic_snapshot_files", "Snapshots in the directory after the run.", float64(len(m.Dir)))
	g("etcdmedic_snapshot_directory_bytes", "Total size of the snapshots in the directory.", float64(total))
	return s
}

// NewestVerified returns the creation time of the newest verified snapshot
// among entries (zero when none is) and the entries' total size.
func NewestVerified(entries []Entry) (newest time.Time, total int64) {
	for _, e := range entries {
		total += e.Size
		// A time ahead of the clock (a skewed host, an edited name) would
		// read as a fresh success and keep a staleness alert quiet forever.
		if e.Verified && !e.Future && e.Created.After(newest) {
			newest = e.Created
		}
	}
	return newest, total
}
