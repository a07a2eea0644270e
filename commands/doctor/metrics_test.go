package doctor_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/internal/promfile/promfiletest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// doctor --metrics-file on a fragmented member: the textfile holds the
// finding and the reclaimable bytes, parses as node_exporter parses it,
// and passes promtool.
func TestDoctorMetricsFile(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 400, Events: 1000, PodPadding: 1000, EventPadding: 500})
	if _, err := playground.Fragment(t.Context(), playgroundtest.Client(t, c), ""); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "doctor.prom")
	res, _ := doctor(t, c, append(looseDisk, "--set", "frag.ratio=0.3", "--set", "frag.minInUse=100KiB", "--metrics-file", path)...)
	if res.Code == 64 {
		t.Fatalf("exit %d", res.Code)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	promfiletest.Check(t, data)
	if !strings.Contains(string(data), `etcdmedic_finding{check="space.fragmentation",member="m1",severity="warn"} 1`) {
		t.Errorf("no fragmentation finding in\n%s", data)
	}
	if v := promfiletest.Labels(t, data, "etcdmedic_db_reclaimable_bytes", "member")["m1"]; v <= 0 {
		t.Errorf("reclaimable %v", v)
	}
	if v := promfiletest.Labels(t, data, "etcdmedic_member_up", "member")["m1"]; v != 1 {
		t.Errorf("member_up %v", v)
	}
}
