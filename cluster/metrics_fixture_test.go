package cluster

import (
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func loadFixture(t *testing.T, name string) *MetricsSample {
	t.Helper()
	f, err := os.Open("testdata/metrics/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := ParseMetrics(f, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// The fixtures are real /metrics scrapes of one member, before and after 200
// writes (captured from etcd 3.7.3 and 3.5.35 playground members). Expected
// values are worked out by hand from the bucket counts, the way Prometheus'
// histogram_quantile does it.
func TestHistogramQuantileOnRealScrapes(t *testing.T) {
	before37 := loadFixture(t, "etcd-3.7.3-before.txt")
	after37 := loadFixture(t, "etcd-3.7.3-after-200-puts.txt")

	// 3.7.3 before, WAL fsync: count 7, rank 0.99×7 = 6.93, in (8ms, 16ms] which
	// holds buckets 6→7: 0.008 + 0.008×(6.93−6)/(7−6) = 0.01544.
	if p, ok := before37.HistogramQuantile(metricWALFsync, 0.99); !ok || !near(p, 0.01544) {
		t.Fatalf("3.7.3 before p99 fsync = %v, %v; want 0.01544", p, ok)
	}
	// after, lifetime: count 207, rank 204.93, in (32ms, 64ms] holding 204→206:
	// 0.032 + 0.032×0.93/2 = 0.04688.
	if p, ok := after37.HistogramQuantile(metricWALFsync, 0.99); !ok || !near(p, 0.04688) {
		t.Fatalf("3.7.3 after p99 fsync = %v, %v; want 0.04688", p, ok)
	}
	// The window alone: bucket deltas 153,180,188,196,196,197,199,200…; total
	// 200, rank 198, in (32ms, 64ms] holding 197→199: 0.032 + 0.032×1/2 = 0.048.
	p, ok, reset := HistogramQuantileDelta(before37, after37, metricWALFsync, 0.99)
	if !ok || reset || !near(p, 0.048) {
		t.Fatalf("3.7.3 delta p99 fsync = %v, %v, reset %v; want 0.048", p, ok, reset)
	}

	before35 := loadFixture(t, "etcd-3.5.35-before.txt")
	after35 := loadFixture(t, "etcd-3.5.35-after-200-puts.txt")
	// 3.5.35 backend commit, window: deltas 6,59,73,86,103,106,106,107…; total
	// 107, rank 105.93, in (16ms, 32ms] holding 103→106: 0.016 + 0.016×2.93/3.
	p, ok, _ = HistogramQuantileDelta(before35, after35, metricBackendComm, 0.99)
	if want := 0.016 + 0.016*2.93/3; !ok || !near(p, want) {
		t.Fatalf("3.5.35 delta p99 commit = %v, want %v", p, want)
	}
	// Lifetime: count 113, rank 111.87, (16ms, 32ms] holding 109→112.
	if p, ok := after35.HistogramQuantile(metricBackendComm, 0.99); !ok || !near(p, 0.016+0.016*2.87/3) {
		t.Fatalf("3.5.35 lifetime p99 commit = %v", p)
	}

	// Gauges, counters and labels read as exported.
	if v, ok := before35.Value(metricQuotaBytes); !ok || v != 2147483648 {
		t.Fatalf("quota metric = %v, %v", v, ok)
	}
	if v, ok := after35.LabelValue("etcd_server_version", "server_version"); !ok || v != "3.5.35" {
		t.Fatalf("server_version label = %q", v)
	}
	if d, ok := CounterDelta(before37, after37, "etcd_server_leader_changes_seen_total"); !ok || d != 0 {
		t.Fatalf("leader changes during the writes = %v, %v; want 0", d, ok)
	}
	if d, ok := CounterDelta(before37, after37, "etcd_mvcc_put_total"); !ok || d != 200 {
		t.Fatalf("puts during the window = %v, want 200", d)
	}
}

func TestMissingMetricsAreNotZero(t *testing.T) {
	s := loadFixture(t, "etcd-3.7.3-before.txt")
	if _, ok := s.HistogramQuantile("etcd_no_such_histogram_seconds", 0.99); ok {
		t.Fatal("a missing histogram gave a quantile")
	}
	if _, ok := s.Value("etcd_no_such_gauge"); ok {
		t.Fatal("a missing gauge gave a value")
	}
	if _, ok, _ := HistogramQuantileDelta(s, s, metricWALFsync, 0.99); ok {
		t.Fatal("a window without observations gave a quantile")
	}
	var nilSample *MetricsSample
	if _, ok := nilSample.HistogramQuantile(metricWALFsync, 0.99); ok || nilSample.Has(metricWALFsync) {
		t.Fatal("no scrape at all gave a value")
	}
}

func TestHistogramEdgeCases(t *testing.T) {
	parse := func(text string) *MetricsSample {
		s, err := ParseMetrics(strings.NewReader(text), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	h := func(b1, b2, inf int) string {
		return "# TYPE x histogram\n" +
			"x_bucket{le=\"0.1\"} " + itoa(b1) + "\n" +
			"x_bucket{le=\"0.2\"} " + itoa(b2) + "\n" +
			"x_bucket{le=\"+Inf\"} " + itoa(inf) + "\n" +
			"x_sum 1\nx_count " + itoa(inf) + "\n"
	}
	// Median interpolates inside the first bucket: rank 5 of 10, all ≤ 0.1: 0.1×5/10.
	if p, _ := parse(h(10, 10, 10)).HistogramQuantile("x", 0.5); !near(p, 0.05) {
		t.Fatalf("median = %v, want 0.05", p)
	}
	// Everything above the last finite bound: the quantile is that bound.
	if p, _ := parse(h(0, 0, 4)).HistogramQuantile("x", 0.99); !near(p, 0.2) {
		t.Fatalf("+Inf quantile = %v, want 0.2", p)
	}
	// An empty histogram has no quantile.
	if _, ok := parse(h(0, 0, 0)).HistogramQuantile("x", 0.99); ok {
		t.Fatal("empty histogram gave a quantile")
	}
	// A restart between scrapes resets counters: the delta is flagged, not used.
	if _, ok, reset := HistogramQuantileDelta(parse(h(5, 8, 9)), parse(h(1, 1, 1)), "x", 0.99); ok || !reset {
		t.Fatalf("reset not detected: ok %v reset %v", ok, reset)
	}
	// Several series (e.g. peer RTT per peer) are summed.
	multi := parse("# TYPE y histogram\n" +
		"y_bucket{To=\"a\",le=\"0.1\"} 1\ny_bucket{To=\"a\",le=\"+Inf\"} 1\ny_sum{To=\"a\"} 0\ny_count{To=\"a\"} 1\n" +
		"y_bucket{To=\"b\",le=\"0.1\"} 0\ny_bucket{To=\"b\",le=\"+Inf\"} 3\ny_sum{To=\"b\"} 0\ny_count{To=\"b\"} 3\n")
	if n, _ := multi.HistogramCount("y"); n != 4 {
		t.Fatalf("summed count = %v, want 4", n)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
