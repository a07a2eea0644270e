// Package promfiletest checks text-format metrics the way their readers do:
// expfmt's parser (node_exporter's textfile collector uses it) and promtool.
package promfiletest

import (
	"bytes"
	"os/exec"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Parse parses text-format data with legacy name validation, as
// node_exporter does, and fails the test when it cannot.
func Parse(t testing.TB, data []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("expfmt cannot parse:\n%s\n%v", data, err)
	}
	return mfs
}

// Labels maps one label's values in one family to their sample values.
func Labels(t testing.TB, data []byte, family, label string) map[string]float64 {
	t.Helper()
	mf, ok := Parse(t, data)[family]
	if !ok {
		t.Fatalf("no %s in\n%s", family, data)
	}
	out := map[string]float64{}
	for _, m := range mf.GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label {
				out[lp.GetValue()] = Value(m)
			}
		}
	}
	return out
}

// Value is a gauge's, counter's or untyped sample's value.
func Value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	}
	return m.GetUntyped().GetValue()
}

// Check runs `promtool check metrics` on data: it must parse and lint clean.
func Check(t testing.TB, data []byte) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not installed (scripts/test.sh installs Debian's prometheus package): %v", err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\ninput:\n%s", err, out, data)
	}
}
