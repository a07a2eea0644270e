package snapshot

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"github.com/etcdmedic/etcdmedic/internal/promfile"
)

const metricLastDrillSuccess = "etcdmedic_snapshot_last_drill_success_timestamp_seconds"

// WriteDrillMetrics writes the drill's outcome as a Prometheus textfile. A
// failed drill keeps the time of the last successful one from the file it
// replaces, so "no successful drill for N days" stays true to the past.
func WriteDrillMetrics(path string, r *DrillResult) error {
	s := promfile.New()
	g := func(name, help string, v float64) { s.Gauge(name, help).Set(v) }
	ok := r != nil && r.Matched
	g("etcdmedic_snapshot_drill_success", "1 if the last restore drill restored, started and matched the snapshot's metadata.", promfile.Bool(ok))
	last := previousDrillSuccess(path)
	if ok {
		last = float64(r.Finished.Unix())
	}
	if last > 0 {
		g(metricLastDrillSuccess, "When the last successful restore drill finished.", last)
	}
	if r != nil {
		g("etcdmedic_snapshot_drill_last_run_timestamp_seconds", "When the last restore drill finished.", float64(r.Finished.Unix()))
		g("etcdmedic_snapshot_drill_restore_seconds", "How long the last drill's restore took.", r.RestoreSeconds)
		g("etcdmedic_snapshot_drill_start_seconds", "How long the last drill's member took to start.", r.StartSeconds)
		g("etcdmedic_snapshot_drill_duration_seconds", "How long the last drill took, download to cleanup.", r.TotalSeconds)
	}
	return promfile.WriteSet(path, s)
}

func previousDrillSuccess(path string) float64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), metricLastDrillSuccess+" "); ok {
			if x, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return x
			}
		}
	}
	return 0
}
