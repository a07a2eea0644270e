package health

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// The doctor's metric checks judged on real /metrics text: the fixtures under
// cluster/testdata/metrics are verbatim scrapes of etcd 3.5.35, 3.6.16 and
// 3.7.3 members (see cluster/metrics_test.go for how they were captured: 400
// puts between "idle" and "after-load", a SIGTERM restart before
// "after-restart").
const fixtureDir = "../cluster/testdata/metrics"

func fixture(t *testing.T, name string, drop ...string) *cluster.MetricsSample {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	// Dropping every line of a family simulates a release or flag set that
	// does not export it (e.g. --unsafe-no-fsync, or an older release).
	var buf bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
lines:
	for sc.Scan() {
		line := sc.Text()
		for _, d := range drop {
			if strings.Contains(line, d) {
				continue lines
			}
		}
		buf.WriteString(line + "\n")
	}
	s, err := cluster.ParseMetrics(&buf, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// judgeMetrics runs the metric checks of one member between two scrapes.
func judgeMetrics(t *testing.T, th Thresholds, before, after *cluster.MetricsSample) map[string]Finding {
	t.Helper()
	m := cluster.Member{ID: 0x8e9e05c52164694d, Name: "m1"}
	ms := &cluster.Membership{ClusterID: 1, Members: []cluster.Member{m, {ID: 2, Name: "m2"}, {ID: 3, Name: "m3"}}}
	st := func(s *cluster.MetricsSample) *cluster.Sample {
		return &cluster.Sample{Membership: ms, Members: []*cluster.MemberStatus{{Member: m, Status: &pb.StatusResponse{}, Metrics: s}}}
	}
	d := &judge{t: th, window: 5 * time.Second, ms: ms}
	d.checkMetrics(st(before), st(after))
	d.checkDefragInflight(st(after))
	out := map[string]Finding{}
	for _, f := range d.out {
		if _, dup := out[f.ID]; dup {
			t.Fatalf("two %s findings for one member", f.ID)
		}
		out[f.ID] = f
	}
	return out
}

func upstream(t *testing.T, overrides ...string) Thresholds {
	t.Helper()
	th, err := Preset("upstream")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range overrides {
		if err := th.Set(o); err != nil {
			t.Fatal(err)
		}
	}
	return th
}

// 3.7.3 idle → after-load: the WAL fsync p99 of the 400 fsyncs in between is
// 0.008 + 0.008/3 ≈ 10.7 ms; the lifetime p99 of after-load alone is ≈ 13.1 ms
// (start-up had a 16–32 ms fsync). A 12 ms threshold tells which one is judged.
func TestMetricsJudgedOnTheWindowDelta(t *testing.T) {
	idle, load := fixture(t, "etcd-3.7.3-idle.txt"), fixture(t, "etcd-3.7.3-after-load.txt")

	f := judgeMetrics(t, upstream(t, "fsync.warn=12ms"), idle, load)["metrics.walFsyncP99"]
	if f.Severity != OK || f.Observed != "p99 11ms of 400 observations" {
		t.Fatalf("fsync with a 12ms threshold = %s %q; want ok on the window's 10.7ms, not the lifetime 13.1ms", f.Severity, f.Observed)
	}
	f = judgeMetrics(t, upstream(t, "fsync.warn=10ms"), idle, load)["metrics.walFsyncP99"]
	if f.Severity != Warn || f.Advice == "" || f.Threshold != "warn > 10ms, crit > 500ms, from ≥ 50 observations" || f.Short != "walFsync p99 11ms > 10ms" {
		t.Fatalf("fsync with the upstream 10ms threshold = %+v; want a warning with advice", f)
	}
	// Backend commit, same window: 0.032 + 0.032*0.03/2 ≈ 32.5 ms > 25 ms (the
	// lifetime figure, ≈ 31.9 ms, would say the same: start-up commits were fast).
	c := judgeMetrics(t, upstream(t), idle, load)["metrics.backendCommitP99"]
	if c.Severity != Warn || c.Observed != "p99 32ms of 197 observations" {
		t.Fatalf("commit = %s %q; want warn at p99 32ms", c.Severity, c.Observed)
	}
	if !strings.Contains(c.Advice, "etcdmedic defrag") {
		t.Fatalf("commit advice %q names no command", c.Advice)
	}

	all := judgeMetrics(t, upstream(t), idle, load)
	// No election in between: a real zero, reported ok, not n/a.
	if lc := all["metrics.leaderChanges"]; lc.Severity != OK || lc.Observed != "0 leader changes" {
		t.Fatalf("leader changes = %+v", lc)
	}
	if fd := all["metrics.fileDescriptors"]; fd.Severity != OK || !strings.HasPrefix(fd.Observed, "24 of 20000") {
		t.Fatalf("file descriptors = %+v", fd)
	}
	if df := all["metrics.defragInflight"]; df.Severity != OK || df.Observed != "no" {
		t.Fatalf("defrag in flight = %+v", df)
	}
}

// A p99 over the threshold from too few observations is unknown, not a
// warning: the same real window, judged with a minimum above its 400 fsyncs.
func TestMetricsTooFewObservationsAreUnknown(t *testing.T) {
	idle, load := fixture(t, "etcd-3.7.3-idle.txt"), fixture(t, "etcd-3.7.3-after-load.txt")
	f := judgeMetrics(t, upstream(t, "latency.minObservations=401"), idle, load)["metrics.walFsyncP99"]
	if f.Severity != Unknown || !strings.Contains(f.Short, "only 400 observations") || f.Advice != "" {
		t.Fatalf("fsync over 10ms from 400 < 401 observations = %+v; want unknown naming the count", f)
	}
	// Within the threshold, a small count is still ok: nothing slow was seen.
	f = judgeMetrics(t, upstream(t, "latency.minObservations=401", "fsync.warn=12ms"), idle, load)["metrics.walFsyncP99"]
	if f.Severity != OK {
		t.Fatalf("fsync within the threshold from few observations = %+v; want ok", f)
	}
	f = judgeMetrics(t, upstream(t, "latency.minObservations=400"), idle, load)["metrics.walFsyncP99"]
	if f.Severity != Warn {
		t.Fatalf("fsync over 10ms from exactly the minimum = %+v; want warn", f)
	}
}

// The same scrape twice: nothing was observed in between. That is ok ("idle"),
// and the lifetime figure is shown but not judged.
func TestMetricsIdleWindow(t *testing.T) {
	load := fixture(t, "etcd-3.7.3-after-load.txt")
	f := judgeMetrics(t, upstream(t, "fsync.warn=1ms"), load, load)["metrics.walFsyncP99"]
	if f.Severity != OK || !strings.HasPrefix(f.Observed, "no observations in the window (lifetime p99 13") {
		t.Fatalf("idle window = %s %q", f.Severity, f.Observed)
	}
}

// A restart between the scrapes (real: SIGTERM, start on the same data dir)
// resets histograms and counters: unknown, never a negative or bogus delta.
func TestMetricsAcrossARestart(t *testing.T) {
	got := judgeMetrics(t, upstream(t), fixture(t, "etcd-3.7.3-after-load.txt"), fixture(t, "etcd-3.7.3-after-restart.txt"))
	for _, id := range []string{"metrics.walFsyncP99", "metrics.backendCommitP99", "metrics.leaderChanges", "metrics.slowApplies"} {
		if f := got[id]; f.Severity != Unknown || f.Observed != "n/a" {
			t.Errorf("%s across a restart = %s %q; want unknown n/a", id, f.Severity, f.Observed)
		}
	}
}

// A metric the member does not export is "n/a" and unknown, never 0 and ok.
func TestMetricsMissing(t *testing.T) {
	drop := []string{"etcd_disk_wal_fsync_duration_seconds", "etcd_server_slow_apply_total", "os_fd_", "process_open_fds", "process_max_fds", "etcd_server_proposals_pending"}
	for _, v := range []string{"3.5.35", "3.7.3"} {
		got := judgeMetrics(t, upstream(t), fixture(t, "etcd-"+v+"-idle.txt", drop...), fixture(t, "etcd-"+v+"-after-load.txt", drop...))
		for _, id := range []string{"metrics.walFsyncP99", "metrics.slowApplies", "metrics.fileDescriptors", "metrics.proposalsPending"} {
			if f := got[id]; f.Severity != Unknown || f.Observed != "n/a" {
				t.Errorf("%s: %s without the metric = %s %q; want unknown n/a", v, id, f.Severity, f.Observed)
			}
		}
		// The metrics still exported are judged as usual.
		if f := got["metrics.backendCommitP99"]; f.Severity == Unknown {
			t.Errorf("%s: backend commit = %+v", v, f)
		}
	}
	// Missing in the first scrape only (the member was upgraded in between?):
	// still unknown, not "no observations".
	got := judgeMetrics(t, upstream(t), fixture(t, "etcd-3.7.3-idle.txt", "etcd_disk_wal_fsync_duration_seconds"), fixture(t, "etcd-3.7.3-after-load.txt"))
	if f := got["metrics.walFsyncP99"]; f.Severity != Unknown {
		t.Errorf("fsync missing before = %+v", f)
	}
}

// /metrics unreachable (no scrape at all): one unknown finding that says why.
func TestMetricsUnreachable(t *testing.T) {
	got := judgeMetrics(t, upstream(t), nil, nil)
	f, ok := got["metrics"]
	if !ok || f.Severity != Unknown || len(got) != 1 {
		t.Fatalf("no scrape: %+v", got)
	}
}

// Peer round trips on a real 3-member scrape: the histogram is there, and few
// samples (etcd probes every 30 s) in a short window mean "idle", not 0.
func TestMetricsPeerRoundTrip(t *testing.T) {
	got := judgeMetrics(t, upstream(t), fixture(t, "etcd-3.6.16-after-load.txt"), fixture(t, "etcd-3.6.16-after-load.txt"))
	if f := got["metrics.peerRTTP99"]; f.Severity != OK || !strings.HasPrefix(f.Observed, "no observations") {
		t.Fatalf("peer RTT = %+v", f)
	}
}

// A peer's histogram appears at etcd's first probe of it: born during the
// window (absent from the first scrape, real 3.6.16 scrapes), it is judged
// over what the second holds, not "does not export" (that made a freshly
// started cluster's doctor exit 3 under load).
func TestMetricsPeerRoundTripBornInTheWindow(t *testing.T) {
	got := judgeMetrics(t, upstream(t), fixture(t, "etcd-3.6.16-after-load.txt", "etcd_network_peer_round_trip_time_seconds"), fixture(t, "etcd-3.6.16-after-load.txt"))
	f := got["metrics.peerRTTP99"]
	if f.Severity == Unknown || f.Observed == "n/a" {
		t.Fatalf("peer RTT born in the window = %+v; want judged", f)
	}
}

// Counter thresholds are "more than N in the window", N overridable. The real
// fixtures have 400 puts between idle and after-load: etcd_mvcc_put_total
// goes through the same counter check the failure counters use.
func TestCounterThreshold(t *testing.T) {
	before, after := fixture(t, "etcd-3.7.3-idle.txt"), fixture(t, "etcd-3.7.3-after-load.txt")
	m := cluster.Member{ID: 1, Name: "m1"}
	for _, tc := range []struct {
		warn uint64
		want Severity
	}{{0, Warn}, {399, Warn}, {400, OK}} {
		d := &judge{t: upstream(t), ms: &cluster.Membership{Members: []cluster.Member{m}}}
		d.counter(m, before, after, "x", "etcd_mvcc_put_total", tc.warn, "puts", "", "")
		if f := d.out[0]; f.Severity != tc.want || f.Observed != "400 puts" {
			t.Errorf("400 puts against warn > %d: %s %q, want %s", tc.warn, f.Severity, f.Observed, tc.want)
		}
	}
	th := upstream(t, "slowApplies.warn=3")
	if th.SlowAppliesWarn != 3 {
		t.Fatalf("slowApplies.warn override not applied: %d", th.SlowAppliesWarn)
	}
}
