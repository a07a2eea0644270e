package promfile_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/etcdmedic/etcdmedic/internal/promfile"
	"github.com/etcdmedic/etcdmedic/internal/promfile/promfiletest"
)

// Awkward member names: a quote, a backslash, a newline, non-ASCII letters,
// and bytes that are not UTF-8 at all.
var awkward = []string{`say "hi"`, `back\slash`, "two\nlines", "Ærø-ünïcødé-节点", "bad\xffbyte"}

func TestWriteRoundTripsLabels(t *testing.T) {
	s := promfile.New()
	g := s.Gauge("etcdmedic_test_member_value", "A value per member.", "member")
	for i, name := range awkward {
		g.Set(float64(i), name)
	}
	s.Gauge("etcdmedic_test_empty", "Never set: left out.")
	path := filepath.Join(t.TempDir(), "t.prom")
	if err := promfile.WriteSet(path, s); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := promfiletest.Labels(t, data, "etcdmedic_test_member_value", "member")
	for i, name := range awkward {
		want := promfile.Label(name)
		if v, ok := got[want]; !ok || v != float64(i) {
			t.Errorf("member %q: got %v (present %v) in\n%s", want, v, ok, data)
		}
	}
	if got["bad\uFFFDbyte"] != 4 {
		t.Errorf("invalid UTF-8 not replaced: %v", got)
	}
	if bytes.Contains(data, []byte("etcdmedic_test_empty")) {
		t.Errorf("empty family written:\n%s", data)
	}
	promfiletest.Check(t, data)
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("temp file left behind: %v", entries)
	}
}

func TestWriteGatherFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.prom")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	broken := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return nil, errors.New("boom") })
	if err := promfile.Write(path, broken); err == nil {
		t.Fatal("a failed gather was written")
	}
	if data, _ := os.ReadFile(path); string(data) != "old\n" {
		t.Errorf("old file changed: %q", data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temp file left behind: %v", entries)
	}
}
