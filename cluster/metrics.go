package cluster

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// MetricsSample is one parsed scrape of a member's /metrics endpoint.
type MetricsSample struct {
	At       time.Time
	families map[string]*dto.MetricFamily
}

// metricsMaxBody bounds a scrape: etcd's /metrics is ~100-300 KiB.
const metricsMaxBody = 32 << 20

func ParseMetrics(r io.Reader, at time.Time) (*MetricsSample, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return &MetricsSample{At: at, families: fams}, nil
}

// ScrapeMetrics GETs a /metrics URL; ctx bounds it.
func ScrapeMetrics(ctx context.Context, hc *http.Client, url string) (*MetricsSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return ParseMetrics(io.LimitReader(resp.Body, metricsMaxBody), time.Now())
}

func (s *MetricsSample) Has(name string) bool {
	if s == nil {
		return false
	}
	_, ok := s.families[name]
	return ok
}

// Value returns the sum over all series of a gauge, counter or untyped metric.
func (s *MetricsSample) Value(name string) (float64, bool) {
	if s == nil {
		return 0, false
	}
	f, ok := s.families[name]
	if !ok || len(f.GetMetric()) == 0 {
		return 0, false
	}
	var v float64
	for _, m := range f.GetMetric() {
		switch {
		case m.GetGauge() != nil:
			v += m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			v += m.GetCounter().GetValue()
		case m.GetUntyped() != nil:
			v += m.GetUntyped().GetValue()
		default:
			return 0, false
		}
	}
	return v, true
}

// LabelValue returns a label of the first series (etcd_server_version{server_version="3.6.6"}).
func (s *MetricsSample) LabelValue(name, label string) (string, bool) {
	if s == nil {
		return "", false
	}
	f, ok := s.families[name]
	if !ok || len(f.GetMetric()) == 0 {
		return "", false
	}
	for _, lp := range f.GetMetric()[0].GetLabel() {
		if lp.GetName() == label {
			return lp.GetValue(), true
		}
	}
	return "", false
}

// histBucket is one cumulative bucket: observations ≤ upper.
type histBucket struct {
	upper float64
	count float64
}

// histogram sums every series of a histogram into one bucket list.
func (s *MetricsSample) histogram(name string) ([]histBucket, float64, bool) {
	if s == nil {
		return nil, 0, false
	}
	f, ok := s.families[name]
	if !ok || f.GetType() != dto.MetricType_HISTOGRAM || len(f.GetMetric()) == 0 {
		return nil, 0, false
	}
	sums := map[float64]float64{}
	var total float64
	for _, m := range f.GetMetric() {
		h := m.GetHistogram()
		if h == nil {
			continue
		}
		total += float64(h.GetSampleCount())
		for _, b := range h.GetBucket() {
			sums[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
	}
	buckets := make([]histBucket, 0, len(sums)+1)
	for ub, c := range sums {
		buckets = append(buckets, histBucket{ub, c})
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].upper < buckets[j].upper })
	if len(buckets) == 0 || !math.IsInf(buckets[len(buckets)-1].upper, 1) {
		buckets = append(buckets, histBucket{math.Inf(1), total})
	}
	return buckets, total, true
}

// HistogramCount returns the number of observations.
func (s *MetricsSample) HistogramCount(name string) (float64, bool) {
	_, total, ok := s.histogram(name)
	return total, ok
}

// HistogramQuantile is Prometheus' histogram_quantile over the whole life of
// the process: linear interpolation inside the bucket holding the rank; in
// the +Inf bucket, the highest finite bound. ok=false when absent or empty.
func (s *MetricsSample) HistogramQuantile(name string, q float64) (float64, bool) {
	buckets, total, ok := s.histogram(name)
	if !ok || total == 0 {
		return 0, false
	}
	return histQuantile(q, buckets)
}

// HistogramQuantileDelta computes the quantile of only the observations made
// between two scrapes of the same member. reset=true when a count went
// backwards: the member restarted in between and the delta means nothing.
func HistogramQuantileDelta(before, after *MetricsSample, name string, q float64) (v float64, ok bool, reset bool) {
	b1, t1, ok1 := before.histogram(name)
	b2, t2, ok2 := after.histogram(name)
	if !ok1 || !ok2 {
		return 0, false, false
	}
	if t2 < t1 {
		return 0, false, true
	}
	prev := map[float64]float64{}
	for _, b := range b1 {
		prev[b.upper] = b.count
	}
	delta := make([]histBucket, len(b2))
	for i, b := range b2 {
		d := b.count - prev[b.upper]
		if d < 0 {
			return 0, false, true
		}
		delta[i] = histBucket{b.upper, d}
	}
	if t2-t1 == 0 {
		return 0, false, false
	}
	v, ok = histQuantile(q, delta)
	return v, ok, false
}

// CounterDelta returns after − before for a counter; ok=false if missing or reset.
func CounterDelta(before, after *MetricsSample, name string) (float64, bool) {
	a, ok1 := before.Value(name)
	b, ok2 := after.Value(name)
	if !ok1 || !ok2 || b < a {
		return 0, false
	}
	return b - a, true
}

func histQuantile(q float64, buckets []histBucket) (float64, bool) {
	if len(buckets) == 0 || q < 0 || q > 1 {
		return 0, false
	}
	total := buckets[len(buckets)-1].count
	if total == 0 {
		return 0, false
	}
	rank := q * total
	var prevUpper, prevCount float64
	for i, b := range buckets {
		if b.count >= rank {
			if math.IsInf(b.upper, 1) {
				if i == 0 {
					return 0, false
				}
				return buckets[i-1].upper, true
			}
			if b.count == prevCount {
				return b.upper, true
			}
			lower := prevUpper
			if i == 0 && b.upper > 0 {
				lower = 0
			}
			return lower + (b.upper-lower)*(rank-prevCount)/(b.count-prevCount), true
		}
		prevUpper, prevCount = b.upper, b.count
	}
	return buckets[len(buckets)-1].upper, true
}
