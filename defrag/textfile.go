package defrag

import (
	"github.com/etcdmedic/etcdmedic/internal/promfile"
)

// WriteTextfile writes the run's outcome in the Prometheus text format for
// node_exporter's textfile collector, atomically: the collector never reads a
// half-written file. Alert on etcdmedic_defrag_last_success == 0 or on
// time() - etcdmedic_defrag_last_run_timestamp_seconds growing too large
// (etcdmedic alerts generates both).
func WriteTextfile(path string, s *Summary) error {
	return promfile.WriteSet(path, TextfileMetrics(s))
}

// TextfileMetrics is the run's outcome as metrics.
func TextfileMetrics(s *Summary) *promfile.Set {
	set := promfile.New()
	set.Gauge("etcdmedic_defrag_last_run_timestamp_seconds", "Unix time the last etcdmedic defrag run started.").Set(float64(s.Started.Unix()))
	set.Gauge("etcdmedic_defrag_last_success", "1 if the last run succeeded (including nothing to do), else 0.").Set(promfile.Bool(s.ExitCode == 0))
	set.Gauge("etcdmedic_defrag_last_exit_code", "Exit code of the last run (0 ok, 2 failed, 3 unknown, 4 refused).").Set(float64(s.ExitCode))
	set.Gauge("etcdmedic_defrag_reclaimed_bytes", "Bytes the last run reclaimed across members.").Set(float64(s.ReclaimedBytes))
	set.Gauge("etcdmedic_defrag_members_defragmented", "Members the last run defragmented.").Set(float64(s.Defragmented))
	set.Gauge("etcdmedic_defrag_run_duration_seconds", "Wall time of the last run.").Set(s.TookSeconds)
	d := set.Gauge("etcdmedic_defrag_member_duration_seconds", "How long each member's defragmentation took in the last run.", "member", "name", "outcome")
	for _, m := range s.Members {
		if m.Outcome == "defragmented" || m.Outcome == "failed" {
			d.Set(m.DurationSeconds, m.Member, m.MemberName, m.Outcome)
		}
	}
	return set
}
