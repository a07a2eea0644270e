// Package promfile builds Prometheus metrics with client_golang and writes
// them in the text exposition format with expfmt: node_exporter textfiles
// (atomically) and the exporter's scrapes alike. Hand-written text went wrong
// on label values: Go's %q emits \u and \x escapes the Prometheus parser
// rejects; expfmt escapes exactly what the format asks (\, " and newline).
package promfile

import (
	"fmt"
	"io"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/etcdmedic/etcdmedic/internal/atomicfile"
)

// Set is one registry of gauges, built for one file or one scrape.
type Set struct {
	reg *prometheus.Registry
}

// New returns an empty set. The registry is pedantic: an inconsistent
// family (a label missing, two HELP texts) fails Gather instead of producing
// a file that a collector rejects later.
func New() *Set { return &Set{reg: prometheus.NewPedanticRegistry()} }

// Registry is the set's registry, for collectors beyond plain gauges.
func (s *Set) Registry() *prometheus.Registry { return s.reg }

// Gauge registers a gauge family with the given label names.
func (s *Set) Gauge(name, help string, labels ...string) *Gauge {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	s.reg.MustRegister(v)
	return &Gauge{v: v}
}

// Gauge is a family of gauges; label values may be any string.
type Gauge struct{ v *prometheus.GaugeVec }

// Set sets the series with these label values (in the family's label order).
func (g *Gauge) Set(value float64, labelValues ...string) {
	for i, lv := range labelValues {
		labelValues[i] = Label(lv)
	}
	g.v.WithLabelValues(labelValues...).Set(value)
}

// Label makes any string a valid label value: client_golang refuses invalid
// UTF-8 (a member name is whatever bytes etcd was given), so those bytes
// become U+FFFD instead of failing the whole file.
func Label(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// Bool is 1 for true, 0 for false.
func Bool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Encode writes everything g gathers in the text format. Families with no
// series are left out: a HELP and TYPE with no sample says nothing.
func Encode(w io.Writer, g prometheus.Gatherer) error {
	mfs, err := g.Gather()
	if err != nil {
		return fmt.Errorf("gather metrics: %w", err)
	}
	for _, mf := range mfs {
		if len(mf.GetMetric()) == 0 {
			continue
		}
		// MetricFamilyToText applies no name escaping: our names are legacy
		// names, which node_exporter's parser and promtool both require.
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			return fmt.Errorf("encode %s: %w", mf.GetName(), err)
		}
	}
	return nil
}

// Write replaces path with what g gathers, atomically: a textfile collector
// never reads a torn file, and the temp file's name does not end in .prom
// (atomicfile names it .<base>.tmp-*), so node_exporter never reads it.
func Write(path string, g prometheus.Gatherer) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error { return Encode(w, g) })
}

// WriteSet is Write for a Set.
func WriteSet(path string, s *Set) error { return Write(path, s.reg) }
