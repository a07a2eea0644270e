package defrag

import (
	"fmt"
	"io"
	"strings"

	"github.com/etcdmedic/etcdmedic/internal/atomicfile"
)

// WriteTextfile writes the run's outcome in the Prometheus text format for
// node_exporter's textfile collector, atomically: the collector never reads a
// half-written file. Alert on etcdmedic_defrag_last_success == 0 or on
// time() - etcdmedic_defrag_last_run_timestamp_seconds growing too large.
func WriteTextfile(path string, s *Summary) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		var b strings.Builder
		metric := func(name, help, typ string) {
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		}
		success := 0
		if s.ExitCode == 0 {
			success = 1
		}
		metric("etcdmedic_defrag_last_run_timestamp_seconds", "Unix time the last etcdmedic defrag run started.", "gauge")
		fmt.Fprintf(&b, "etcdmedic_defrag_last_run_timestamp_seconds %d\n", s.Started.Unix())
		metric("etcdmedic_defrag_last_success", "1 if the last run succeeded (including nothing to do), else 0.", "gauge")
		fmt.Fprintf(&b, "etcdmedic_defrag_last_success %d\n", success)
		metric("etcdmedic_defrag_last_exit_code", "Exit code of the last run (0 ok, 2 failed, 3 unknown, 4 refused).", "gauge")
		fmt.Fprintf(&b, "etcdmedic_defrag_last_exit_code %d\n", s.ExitCode)
		metric("etcdmedic_defrag_reclaimed_bytes", "Bytes the last run reclaimed across members.", "gauge")
		fmt.Fprintf(&b, "etcdmedic_defrag_reclaimed_bytes %d\n", s.ReclaimedBytes)
		metric("etcdmedic_defrag_members_defragmented", "Members the last run defragmented.", "gauge")
		fmt.Fprintf(&b, "etcdmedic_defrag_members_defragmented %d\n", s.Defragmented)
		metric("etcdmedic_defrag_run_duration_seconds", "Wall time of the last run.", "gauge")
		fmt.Fprintf(&b, "etcdmedic_defrag_run_duration_seconds %.3f\n", s.TookSeconds)
		metric("etcdmedic_defrag_member_duration_seconds", "How long each member's defragmentation took in the last run.", "gauge")
		for _, m := range s.Members {
			if m.Outcome == "defragmented" || m.Outcome == "failed" {
				fmt.Fprintf(&b, "etcdmedic_defrag_member_duration_seconds{member=%q,name=%q,outcome=%q} %.3f\n", m.Member, m.MemberName, m.Outcome, m.DurationSeconds)
			}
		}
		_, err := io.WriteString(w, b.String())
		return err
	})
}
