package defrag

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/internal/promfile/promfiletest"
)

// A member name is whatever etcd was given: quotes, backslashes and
// non-ASCII letters must come back as they were from the parser
// node_exporter uses (the hand-written %q quoting emitted \u escapes it rejects).
func TestTextfileRoundTripsMemberNames(t *testing.T) {
	names := []string{`etcd "a"`, `c:\etcd\b`, "ünïcødé-节点"}
	s := &Summary{Started: time.Unix(1700000000, 0), TookSeconds: 1.5, Defragmented: 3, ReclaimedBytes: 1 << 20}
	for i, n := range names {
		s.Members = append(s.Members, MemberResult{Member: "id" + string(rune('0'+i)), MemberName: n, Outcome: "defragmented", DurationSeconds: float64(i + 1)})
	}
	s.Members = append(s.Members, MemberResult{Member: "id9", MemberName: "skipped", Outcome: "skipped"})
	path := filepath.Join(t.TempDir(), "defrag.prom")
	if err := WriteTextfile(path, s); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := promfiletest.Labels(t, data, "etcdmedic_defrag_member_duration_seconds", "name")
	if len(got) != len(names) {
		t.Errorf("got %v, want the %d defragmented members only", got, len(names))
	}
	for i, n := range names {
		if got[n] != float64(i+1) {
			t.Errorf("member %q: %v in\n%s", n, got[n], data)
		}
	}
	fams := promfiletest.Parse(t, data)
	if v := fams["etcdmedic_defrag_last_success"].GetMetric()[0].GetGauge().GetValue(); v != 1 {
		t.Errorf("last_success %v, want 1", v)
	}
	if v := fams["etcdmedic_defrag_last_run_timestamp_seconds"].GetMetric()[0].GetGauge().GetValue(); v != 1700000000 {
		t.Errorf("last_run_timestamp %v", v)
	}
	promfiletest.Check(t, data)
}
