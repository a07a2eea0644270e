package snapshot_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// TestDrillLocalDirMetrics: a drill of a directory takes its newest verified
// snapshot and passes; its metrics file records the success. A flipped byte
// fails the next drill (exit 2), and the metrics keep the last success's
// time while saying the last drill failed.
func TestDrillLocalDirMetrics(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 80, ConfigMaps: 10})
	dir := t.TempDir()
	out := save(t, env(c), dir, "--compress")
	metrics := filepath.Join(t.TempDir(), "drill.prom")
	dr, _ := drill(t, 0, dir, "--metrics-file", metrics)
	if !dr.Matched || dr.Revision != out.Save.Metadata.Revision || dr.TotalKeys != int64(out.Save.Metadata.TotalKeys) {
		t.Fatalf("drill: %+v, saved %+v", dr, out.Save.Metadata)
	}
	first := readMetric(t, metrics, "etcdmedic_snapshot_last_drill_success_timestamp_seconds")
	if first == "" || readMetric(t, metrics, "etcdmedic_snapshot_drill_success") != "1" {
		t.Fatalf("metrics after a good drill:\n%s", mustRead(t, metrics))
	}
	fi, _ := os.Stat(out.Save.Path)
	flip(t, out.Save.Path, fi.Size()/2)
	drill(t, 2, dir, "--metrics-file", metrics)
	if got := readMetric(t, metrics, "etcdmedic_snapshot_last_drill_success_timestamp_seconds"); got != first {
		t.Fatalf("last success after a failed drill: %q, want %q", got, first)
	}
	if readMetric(t, metrics, "etcdmedic_snapshot_drill_success") != "0" {
		t.Fatalf("metrics after a failed drill:\n%s", mustRead(t, metrics))
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readMetric(t *testing.T, p, name string) string {
	for _, l := range strings.Split(mustRead(t, p), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return ""
}
