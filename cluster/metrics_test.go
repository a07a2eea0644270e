package cluster

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The etcd-<version>-{idle,after-load,after-restart}.txt fixtures under
// testdata/metrics are verbatim `curl http://127.0.0.1:<port>/metrics` output
// of member m1 of real 3-member clusters (loopback only, data on ext4, default
// flags, so no --metrics=extensive), run from the binaries
// scripts/build-etcd.sh built: v3.5.35, v3.6.16, v3.7.3. "idle" was scraped 5 s
// after the cluster became healthy; "after-load" after 400 `etcdctl put`s of
// 2 KiB values to m1 (97 distinct /registry/pods/default/pod-N keys) and 20
// `get --prefix /registry/ --keys-only`; "after-restart" (3.7.3 only) after
// m1 was stopped with SIGTERM, started again on the same data dir and took
// 20 more puts; 3.6.16 has an after-load scrape only. The scrapes of one
// version are of the same process except across the restart, which is what
// the delta tests rely on.

const (
	metricsTestWAL    = "etcd_disk_wal_fsync_duration_seconds"
	metricsTestCommit = "etcd_disk_backend_commit_duration_seconds"
)

func metricsFixture(t *testing.T, name string) *MetricsSample {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "metrics", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := ParseMetrics(f, time.Unix(0, 0))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

func metricsText(t *testing.T, text string) *MetricsSample {
	t.Helper()
	s, err := ParseMetrics(strings.NewReader(text), time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// metricsNear allows for float rounding only: every expected value below is
// worked out by hand from bucket counts, so any real mistake is far larger.
func metricsNear(got, want float64) bool {
	return math.Abs(got-want) <= 1e-12*math.Max(1, math.Abs(want))
}

func TestMetricsFixtureQuantiles(t *testing.T) {
	for _, tc := range []struct {
		fixture, metric string
		q, want         float64
		count           float64
	}{
		// 3.7.3 after-load WAL fsync, cumulative buckets:
		//   0.001:238 0.002:357 0.004:384 0.008:404 0.016:407 0.032:410 … +Inf:410
		// p99: rank = 0.99*410 = 405.9, first bucket with count >= 405.9 is
		// le=0.016 (407), previous le=0.008 (404):
		//   0.008 + (0.016-0.008) * (405.9-404)/(407-404) = 0.008 + 0.008*1.9/3
		{"etcd-3.7.3-after-load.txt", metricsTestWAL, 0.99, 0.008 + 0.008*1.9/3, 410},
		// p50: rank = 205, inside le=0.001 (238) whose lower edge is 0:
		//   0 + 0.001 * 205/238
		{"etcd-3.7.3-after-load.txt", metricsTestWAL, 0.5, 0.001 * 205 / 238, 410},
		// 3.7.3 idle: 0.001:4 0.002:7 0.004:8 0.008:9 0.016:9 0.032:10 … +Inf:10
		// p99: rank 9.9 in le=0.032 (10), previous le=0.016 (9):
		//   0.016 + 0.016 * (9.9-9)/(10-9) = 0.016 + 0.016*0.9
		{"etcd-3.7.3-idle.txt", metricsTestWAL, 0.99, 0.016 + 0.016*0.9, 10},
		// 3.7.3 after-load backend commit:
		//   0.001:9 0.002:90 0.004:135 0.008:173 0.016:196 0.032:202 0.064:204 … +Inf:204
		// p99: rank 0.99*204 = 201.96 in le=0.032 (202), previous le=0.016 (196):
		//   0.016 + 0.016 * (201.96-196)/(202-196) = 0.016 + 0.016*5.96/6
		{"etcd-3.7.3-after-load.txt", metricsTestCommit, 0.99, 0.016 + 0.016*5.96/6, 204},
		// 3.6.16 after-load WAL fsync: 0.001:316 0.002:385 0.004:399 0.008:405 0.016:409 0.032:410
		// p99: rank 405.9 in le=0.016 (409), previous le=0.008 (405):
		//   0.008 + 0.008 * (405.9-405)/(409-405) = 0.008 + 0.008*0.9/4
		{"etcd-3.6.16-after-load.txt", metricsTestWAL, 0.99, 0.008 + 0.008*0.9/4, 410},
		// 3.5.35 after-load WAL fsync: 0.001:280 0.002:377 0.004:399 0.008:404 0.016:408 0.032:409 0.064:410
		// p99: rank 405.9 in le=0.016 (408), previous le=0.008 (404):
		//   0.008 + 0.008 * (405.9-404)/(408-404) = 0.008 + 0.008*1.9/4
		{"etcd-3.5.35-after-load.txt", metricsTestWAL, 0.99, 0.008 + 0.008*1.9/4, 410},
		// 3.5.35 after-load backend commit: … 0.032:248 0.064:253 0.128:255 … +Inf:255
		// p99: rank 0.99*255 = 252.45 in le=0.064 (253), previous le=0.032 (248):
		//   0.032 + 0.032 * (252.45-248)/(253-248) = 0.032 + 0.032*4.45/5
		{"etcd-3.5.35-after-load.txt", metricsTestCommit, 0.99, 0.032 + 0.032*4.45/5, 255},
	} {
		s := metricsFixture(t, tc.fixture)
		got, ok := s.HistogramQuantile(tc.metric, tc.q)
		if !ok || !metricsNear(got, tc.want) {
			t.Errorf("%s %s q=%v = %v, %v; want %v", tc.fixture, tc.metric, tc.q, got, ok, tc.want)
		}
		n, ok := s.HistogramCount(tc.metric)
		if !ok || n != tc.count {
			t.Errorf("%s %s count = %v, %v; want %v", tc.fixture, tc.metric, n, ok, tc.count)
		}
	}
}

// The delta quantile must describe only what happened between the scrapes:
// here the start-up fsyncs (a slow one at 16-32 ms in idle) are subtracted.
func TestMetricsFixtureDeltaQuantile(t *testing.T) {
	for _, tc := range []struct {
		before, after string
		metric        string
		delta, cumul  float64
		puts          float64
	}{
		// 3.7.3 WAL fsync, after-load − idle:
		//   0.001:238-4=234 0.002:357-7=350 0.004:384-8=376 0.008:404-9=395
		//   0.016:407-9=398 0.032:410-10=400 … total 400
		// p99: rank 396 in le=0.016 (398), previous le=0.008 (395):
		//   0.008 + 0.008 * (396-395)/(398-395) = 0.008 + 0.008/3
		// against the cumulative 0.008 + 0.008*1.9/3 of after-load alone.
		{"etcd-3.7.3-idle.txt", "etcd-3.7.3-after-load.txt", metricsTestWAL,
			0.008 + 0.008/3, 0.008 + 0.008*1.9/3, 400},
		// 3.7.3 backend commit, after-load − idle (idle: 0.001:0 0.002:3
		// 0.004:3 0.008:6 0.016:7 0.032:7 0.064:7, total 7):
		//   0.001:9 0.002:87 0.004:132 0.008:167 0.016:189 0.032:195 0.064:197, total 197
		// p99: rank 0.99*197 = 195.03 in le=0.064 (197), previous le=0.032 (195):
		//   0.032 + 0.032 * (195.03-195)/(197-195) = 0.032 + 0.032*0.03/2
		// Higher than the cumulative one: start-up commits were fast.
		{"etcd-3.7.3-idle.txt", "etcd-3.7.3-after-load.txt", metricsTestCommit,
			0.032 + 0.032*0.03/2, 0.016 + 0.016*5.96/6, 400},
		// 3.5.35 WAL fsync, after-load − idle (idle: 0.001:5 0.002:7 0.004:9 0.008:10 …, total 10):
		//   0.001:275 0.002:370 0.004:390 0.008:394 0.016:398 0.032:399 0.064:400, total 400
		// p99: rank 396 in le=0.016 (398), previous le=0.008 (394):
		//   0.008 + 0.008 * (396-394)/(398-394) = 0.012
		{"etcd-3.5.35-idle.txt", "etcd-3.5.35-after-load.txt", metricsTestWAL,
			0.012, 0.008 + 0.008*1.9/4, 400},
	} {
		before, after := metricsFixture(t, tc.before), metricsFixture(t, tc.after)
		got, ok, reset := HistogramQuantileDelta(before, after, tc.metric, 0.99)
		if !ok || reset || !metricsNear(got, tc.delta) {
			t.Errorf("%s: delta p99 = %v, ok=%v, reset=%v; want %v", tc.after, got, ok, reset, tc.delta)
		}
		cumul, _ := after.HistogramQuantile(tc.metric, 0.99)
		if !metricsNear(cumul, tc.cumul) || metricsNear(cumul, got) {
			t.Errorf("%s: cumulative p99 = %v, want %v and unlike the delta %v", tc.after, cumul, tc.cumul, got)
		}
		// The capture made exactly 400 puts between the two scrapes.
		if d, ok := CounterDelta(before, after, "etcd_mvcc_put_total"); !ok || d != tc.puts {
			t.Errorf("%s: put delta = %v, %v; want %v", tc.after, d, ok, tc.puts)
		}
		// No election happened: a real zero, distinct from "missing".
		if d, ok := CounterDelta(before, after, "etcd_server_leader_changes_seen_total"); !ok || d != 0 {
			t.Errorf("%s: leader change delta = %v, %v; want 0, true", tc.after, d, ok)
		}
		// Nothing was observed between a scrape and itself.
		if v, ok, reset := HistogramQuantileDelta(after, after, tc.metric, 0.99); ok || reset {
			t.Errorf("%s: self delta = %v, ok=%v, reset=%v; want ok=false, reset=false", tc.after, v, ok, reset)
		}
	}
}

// A real restart of m1 between two scrapes: its counters start from zero.
func TestMetricsFixtureRestart(t *testing.T) {
	before := metricsFixture(t, "etcd-3.7.3-after-load.txt")
	after := metricsFixture(t, "etcd-3.7.3-after-restart.txt")
	if v, ok, reset := HistogramQuantileDelta(before, after, metricsTestWAL, 0.99); ok || !reset {
		t.Errorf("delta across restart = %v, ok=%v, reset=%v; want ok=false, reset=true", v, ok, reset)
	}
	if d, ok := CounterDelta(before, after, "etcd_mvcc_put_total"); ok {
		t.Errorf("put delta across restart = %v, ok; want ok=false", d)
	}
	// m1 took 20 puts after its restart: 20 < 400 shows the reset,
	// and the lifetime p99 is the new process's alone (23 fsyncs:
	// 0.001:19 0.002:22 0.004:23; rank 22.77 in le=0.004, previous 22:
	// 0.002 + 0.002*0.77/1).
	if v, ok := after.HistogramQuantile(metricsTestWAL, 0.99); !ok || !metricsNear(v, 0.002+0.002*0.77) {
		t.Errorf("p99 after restart = %v, %v; want %v", v, ok, 0.002+0.002*0.77)
	}
}

func TestMetricsFixtureLabelsAndVersions(t *testing.T) {
	for _, tc := range []struct {
		fixture, version string
		requestDuration  bool // etcd_server_request_duration_seconds: 3.7+
		rangeDuration    bool // etcd_server_range_duration_seconds: 3.6+
	}{
		{"etcd-3.5.35-after-load.txt", "3.5.35", false, false},
		{"etcd-3.6.16-after-load.txt", "3.6.16", false, true},
		{"etcd-3.7.3-after-load.txt", "3.7.3", true, true},
	} {
		s := metricsFixture(t, tc.fixture)
		if v, ok := s.LabelValue("etcd_server_version", "server_version"); !ok || v != tc.version {
			t.Errorf("%s: server_version = %q, %v", tc.fixture, v, ok)
		}
		if got := s.Has("etcd_server_request_duration_seconds"); got != tc.requestDuration {
			t.Errorf("%s: Has(request_duration) = %v", tc.fixture, got)
		}
		if got := s.Has("etcd_server_range_duration_seconds"); got != tc.rangeDuration {
			t.Errorf("%s: Has(range_duration) = %v", tc.fixture, got)
		}
		// Needs --metrics=extensive, which the capture did not use: absent,
		// never a p99 of 0.
		if v, ok := s.HistogramQuantile("grpc_server_handling_seconds", 0.99); ok {
			t.Errorf("%s: grpc_server_handling_seconds p99 = %v, ok; want absent", tc.fixture, v)
		}
	}

	s := metricsFixture(t, "etcd-3.7.3-after-load.txt")
	if v, ok := s.LabelValue("etcd_cluster_version", "cluster_version"); !ok || v != "3.7" {
		t.Errorf("cluster_version = %q, %v", v, ok)
	}
	if v, ok := s.LabelValue("etcd_server_id", "server_id"); !ok || v != "6347f30a3a49b9e" {
		t.Errorf("server_id = %q, %v", v, ok)
	}
	if _, ok := s.LabelValue("etcd_server_version", "no_such_label"); ok {
		t.Error("LabelValue of a missing label: ok")
	}
	if v, ok := s.Value("etcd_mvcc_db_total_size_in_bytes"); !ok || v != 1765376 {
		t.Errorf("db size = %v, %v; want 1765376", v, ok)
	}
	if v, ok := s.Value("etcd_server_is_leader"); !ok || v != 0 {
		t.Errorf("is_leader = %v, %v; want 0, true (m1 was a follower)", v, ok)
	}
	// Series per peer: {To="3a7a1442b49d31f0"} 64 + {To="3ad8c59012b7b91c"} 882355.
	if v, ok := s.Value("etcd_network_peer_sent_bytes_total"); !ok || v != 64+882355 {
		t.Errorf("peer sent bytes = %v, %v; want %v", v, ok, 64+882355)
	}
	// Two series (one per peer), each 2 observations in (0.0016, 0.0032]:
	// summed 0.0016:0 0.0032:4; p50 rank 2 → 0.0016 + 0.0016*2/4.
	if v, ok := s.HistogramQuantile("etcd_network_peer_round_trip_time_seconds", 0.5); !ok || !metricsNear(v, 0.0024) {
		t.Errorf("peer RTT p50 = %v, %v; want 0.0024", v, ok)
	}
	// {op="Alarm"} 3 + {op="ClusterMemberAttrSet"} 3 + {op="ClusterVersionSet"} 1 + {op="Put"} 400.
	if n, ok := s.HistogramCount("etcd_server_apply_duration_seconds"); !ok || n != 407 {
		t.Errorf("apply count = %v, %v; want 407", n, ok)
	}
}

const metricsSynthetic = `# TYPE lat histogram
lat_bucket{le="0.001"} 0
lat_bucket{le="0.002"} 10
lat_bucket{le="0.004"} 30
lat_bucket{le="0.008"} 40
lat_bucket{le="+Inf"} 40
lat_sum 0.1
lat_count 40
# TYPE tail histogram
tail_bucket{le="0.001"} 1
tail_bucket{le="0.002"} 2
tail_bucket{le="+Inf"} 10
tail_sum 30
tail_count 10
# TYPE empty histogram
empty_bucket{le="0.001"} 0
empty_bucket{le="+Inf"} 0
empty_sum 0
empty_count 0
# TYPE noinf histogram
noinf_bucket{le="0.1"} 1
noinf_sum 1
noinf_count 4
# TYPE neg histogram
neg_bucket{le="-1"} 3
neg_bucket{le="1"} 4
neg_bucket{le="+Inf"} 4
neg_sum -3
neg_count 4
# TYPE ops counter
ops{op="get"} 3
ops{op="put"} 4
# TYPE up gauge
up 1
`

func TestMetricsSyntheticQuantiles(t *testing.T) {
	s := metricsText(t, metricsSynthetic)
	for _, tc := range []struct {
		name string
		q    float64
		want float64
		ok   bool
	}{
		// rank 20 in le=0.004 (30), previous le=0.002 (10):
		// 0.002 + 0.002 * (20-10)/(30-10) = 0.003
		{"lat", 0.5, 0.003, true},
		// rank 10 is reached exactly at le=0.002: its upper bound.
		{"lat", 0.25, 0.002, true},
		// rank 40 = le=0.008: the top of the highest finite bucket.
		{"lat", 1, 0.008, true},
		// rank 0 lies in the empty first bucket: its lower edge, 0, where
		// Prometheus would say NaN.
		{"lat", 0, 0, true},
		// rank 9.9 is past le=0.002 (2): in +Inf, so the highest finite bound.
		{"tail", 0.99, 0.002, true},
		// rank 1 in le=0.001 (1): 0 + 0.001*1/1.
		{"tail", 0.1, 0.001, true},
		{"empty", 0.99, 0, false},
		// No +Inf line: the count stands in for it, so rank 2 is past
		// le=0.1 (1) and the answer is that bound.
		{"noinf", 0.5, 0.1, true},
		// A first bucket at or below zero has no lower edge to interpolate
		// from; Prometheus answers its bound.
		{"neg", 0.5, -1, true},
		{"lat", -0.1, 0, false},
		{"lat", 1.1, 0, false},
		{"lat", math.NaN(), 0, false},
		{"missing", 0.99, 0, false},
		// Not histograms.
		{"ops", 0.5, 0, false},
		{"up", 0.5, 0, false},
	} {
		got, ok := s.HistogramQuantile(tc.name, tc.q)
		if ok != tc.ok || (ok && !metricsNear(got, tc.want)) {
			t.Errorf("%s q=%v = %v, %v; want %v, %v", tc.name, tc.q, got, ok, tc.want, tc.ok)
		}
	}
	if n, ok := s.HistogramCount("empty"); !ok || n != 0 {
		t.Errorf("empty count = %v, %v; want 0, true (present, no observations)", n, ok)
	}
	if _, ok := s.HistogramCount("missing"); ok {
		t.Error("count of a missing histogram: ok")
	}
}

func TestMetricsSyntheticValues(t *testing.T) {
	s := metricsText(t, metricsSynthetic)
	if v, ok := s.Value("ops"); !ok || v != 7 {
		t.Errorf("ops = %v, %v; want 3+4", v, ok)
	}
	if v, ok := s.LabelValue("ops", "op"); !ok || v != "get" {
		t.Errorf("first op = %q, %v; want get", v, ok)
	}
	if v, ok := s.Value("up"); !ok || v != 1 {
		t.Errorf("up = %v, %v", v, ok)
	}
	for _, name := range []string{"missing", "lat"} {
		if v, ok := s.Value(name); ok {
			t.Errorf("Value(%s) = %v, ok; want ok=false", name, v)
		}
	}
	if s.Has("missing") || !s.Has("empty") {
		t.Error("Has: wrong presence")
	}
	var nilSample *MetricsSample
	if _, ok := nilSample.Value("up"); ok || nilSample.Has("up") {
		t.Error("nil sample reports a metric")
	}
	if _, ok := nilSample.HistogramQuantile("lat", 0.5); ok {
		t.Error("nil sample reports a quantile")
	}
	if _, err := ParseMetrics(strings.NewReader("lat_bucket{le=\"0.1\" 3\n"), time.Now()); err == nil {
		t.Error("malformed exposition parsed")
	}
}

// Series with different bucket layouts sum into counts that go down; the
// quantile must still come from non-decreasing counts, as in Prometheus.
func TestMetricsSyntheticMixedLayouts(t *testing.T) {
	s := metricsText(t, `# TYPE h histogram
h_bucket{a="x",le="0.1"} 1
h_bucket{a="x",le="0.2"} 2
h_bucket{a="x",le="+Inf"} 2
h_count{a="x"} 2
h_bucket{a="y",le="0.1"} 5
h_bucket{a="y",le="0.4"} 6
h_bucket{a="y",le="+Inf"} 6
h_count{a="y"} 6
`)
	// Summed: 0.1:6 0.2:2 0.4:6 +Inf:8, repaired to 0.1:6 0.2:6 0.4:6 +Inf:8.
	// p50: rank 4 in le=0.1 → 0.1*4/6. Without the repair le=0.2 (2) would
	// not reach rank 4 and the search would land elsewhere.
	if v, ok := s.HistogramQuantile("h", 0.5); !ok || !metricsNear(v, 0.1*4/6) {
		t.Errorf("p50 = %v, %v; want %v", v, ok, 0.1*4/6)
	}
	// p90: rank 7.2 beyond le=0.4 (6): the highest finite bound.
	if v, ok := s.HistogramQuantile("h", 0.9); !ok || v != 0.4 {
		t.Errorf("p90 = %v, %v; want 0.4", v, ok)
	}
}

func TestMetricsSyntheticResets(t *testing.T) {
	before := metricsText(t, `# TYPE h histogram
h_bucket{le="0.1"} 5
h_bucket{le="+Inf"} 10
h_count 10
# TYPE c counter
c 100
`)
	for _, tc := range []struct {
		name, after string
		ok, reset   bool
		v           float64
	}{
		{"counts went back", `# TYPE h histogram
h_bucket{le="0.1"} 1
h_bucket{le="+Inf"} 2
h_count 2
# TYPE c counter
c 5
`, false, true, 0},
		// Total grew, one bucket shrank: only a new process can do that.
		{"one bucket went back", `# TYPE h histogram
h_bucket{le="0.1"} 4
h_bucket{le="+Inf"} 12
h_count 12
# TYPE c counter
c 100
`, false, true, 0},
		{"bucket layout changed", `# TYPE h histogram
h_bucket{le="0.2"} 6
h_bucket{le="+Inf"} 12
h_count 12
# TYPE c counter
c 101
`, false, true, 0},
		{"nothing observed", `# TYPE h histogram
h_bucket{le="0.1"} 5
h_bucket{le="+Inf"} 10
h_count 10
# TYPE c counter
c 100
`, false, false, 0},
		// Delta: 0.1:2 +Inf:4; p50 rank 2 reached at le=0.1 → 0.1*2/2.
		{"grew", `# TYPE h histogram
h_bucket{le="0.1"} 7
h_bucket{le="+Inf"} 14
h_count 14
# TYPE c counter
c 130
`, true, false, 0.1},
		{"histogram gone", `# TYPE c counter
c 130
`, false, false, 0},
	} {
		after := metricsText(t, tc.after)
		v, ok, reset := HistogramQuantileDelta(before, after, "h", 0.5)
		if ok != tc.ok || reset != tc.reset || (ok && !metricsNear(v, tc.v)) {
			t.Errorf("%s: = %v, ok=%v, reset=%v; want %v, ok=%v, reset=%v", tc.name, v, ok, reset, tc.v, tc.ok, tc.reset)
		}
	}

	up := metricsText(t, "# TYPE c counter\nc 130\n")
	if d, ok := CounterDelta(before, up, "c"); !ok || d != 30 {
		t.Errorf("counter delta = %v, %v; want 30", d, ok)
	}
	if d, ok := CounterDelta(up, before, "c"); ok {
		t.Errorf("counter went back but delta = %v, ok", d)
	}
	if _, ok := CounterDelta(before, up, "missing"); ok {
		t.Error("delta of a missing counter: ok")
	}
}

// A restart that happened long enough ago for the counters to climb past
// their old values shows only in process_start_time_seconds.
func TestMetricsSyntheticRestartByStartTime(t *testing.T) {
	before := metricsText(t, `# TYPE process_start_time_seconds gauge
process_start_time_seconds 1000
# TYPE h histogram
h_bucket{le="0.1"} 5
h_bucket{le="+Inf"} 10
h_count 10
# TYPE c counter
c 100
`)
	after := metricsText(t, `# TYPE process_start_time_seconds gauge
process_start_time_seconds 2000
# TYPE h histogram
h_bucket{le="0.1"} 50
h_bucket{le="+Inf"} 100
h_count 100
# TYPE c counter
c 1000
`)
	if v, ok, reset := HistogramQuantileDelta(before, after, "h", 0.5); ok || !reset {
		t.Errorf("delta = %v, ok=%v, reset=%v; want ok=false, reset=true", v, ok, reset)
	}
	if d, ok := CounterDelta(before, after, "c"); ok {
		t.Errorf("counter delta across restart = %v, ok", d)
	}
}

func TestMetricsScrape(t *testing.T) {
	fixture, err := os.ReadFile(filepath.Join("testdata", "metrics", "etcd-3.7.3-after-load.txt"))
	if err != nil {
		t.Fatal(err)
	}
	block := make(chan struct{})
	defer close(block)
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		// etcd answers protobuf to a client that asks for it.
		if !strings.HasPrefix(r.Header.Get("Accept"), "text/plain") {
			http.Error(w, "want text/plain", http.StatusNotAcceptable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Write(fixture)
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		line := []byte("# " + strings.Repeat("x", 1<<16-3) + "\n")
		for range (metricsMaxBody / len(line)) + 2 {
			if _, err := w.Write(line); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := context.Background()

	s, err := ScrapeMetrics(ctx, srv.Client(), srv.URL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := s.HistogramQuantile(metricsTestWAL, 0.99); !ok || !metricsNear(v, 0.008+0.008*1.9/3) {
		t.Errorf("scraped p99 = %v, %v", v, ok)
	}
	if time.Since(s.At) > time.Minute {
		t.Errorf("At = %v, not the scrape time", s.At)
	}

	if _, err := ScrapeMetrics(ctx, srv.Client(), srv.URL+"/fail"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("non-200: err = %v", err)
	}
	if _, err := ScrapeMetrics(ctx, srv.Client(), srv.URL+"/huge"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized body: err = %v", err)
	}

	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = ScrapeMetrics(tctx, srv.Client(), srv.URL+"/hang")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hung member: err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("hung member held the scrape for %v", d)
	}
}
