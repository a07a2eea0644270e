package exporter_test

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/exporter"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/promfile/promfiletest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestMain(m *testing.M) {
	playground.RunMemberIfRequested()
	os.Exit(m.Run())
}

// serve starts an in-process exporter over the playground, judged by the
// default thresholds with the given overrides.
func serve(t *testing.T, pg *playground.Cluster, commandTimeout time.Duration, set ...string) (*exporter.Exporter, *httptest.Server) {
	t.Helper()
	return serveWith(t, pg, exporter.Options{Deadline: commandTimeout + 500*time.Millisecond}, commandTimeout, set...)
}

func serveWith(t *testing.T, pg *playground.Cluster, o exporter.Options, commandTimeout time.Duration, set ...string) (*exporter.Exporter, *httptest.Server) {
	t.Helper()
	th, err := health.Resolve("", set)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cluster.Open(&cluster.Config{Endpoints: pg.Endpoints(), DialTimeout: 2 * time.Second, CommandTimeout: commandTimeout}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	o.Thresholds = th
	e := exporter.New(c, o)
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(srv.Close)
	return e, srv
}

func scrape(t testing.TB, url string) []byte {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape: %d %v\n%s", resp.StatusCode, err, body)
	}
	return body
}

// findings lists the etcdmedic_finding series as "check member severity".
func findings(t testing.TB, data []byte) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, m := range promfiletest.Parse(t, data)[exporter.Finding].GetMetric() {
		l := labels(m)
		out[l["check"]+" "+l["member"]+" "+l["severity"]] = true
	}
	return out
}

func labels(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, lp := range m.GetLabel() {
		l[lp.GetName()] = lp.GetValue()
	}
	return l
}

// A fragmented cluster: every member has a fragmentation finding and
// reclaimable bytes; after a real `etcdmedic defrag` the next scrape has none.
func TestExporterFragmentationGoneAfterDefrag(t *testing.T) {
	pg := playgroundtest.Start(t, playground.Options{Members: 3})
	playgroundtest.Seed(t, pg, playground.SeedOptions{Pods: 600, ConfigMaps: 200, Events: 2000, PodPadding: 500, EventPadding: 800, ConfigMapPadding: 1000})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := playground.Fragment(ctx, playgroundtest.Client(t, pg), ""); err != nil {
		t.Fatal(err)
	}
	_, srv := serve(t, pg, 5*time.Second, "frag.ratio=0.3", "frag.minInUse=100KiB")

	before := scrape(t, srv.URL)
	promfiletest.Check(t, before)
	got := findings(t, before)
	reclaimable := promfiletest.Labels(t, before, exporter.DBReclaimable, "member")
	for _, m := range pg.Members() {
		if !got["space.fragmentation "+m.Name+" warn"] {
			t.Errorf("no fragmentation finding for %s: %v", m.Name, got)
		}
		if reclaimable[m.Name] < 1<<20 {
			t.Errorf("%s: reclaimable %v, want ≥ 1 MiB", m.Name, reclaimable[m.Name])
		}
	}
	if v := value(t, before, exporter.QuorumMargin); v != 1 {
		t.Errorf("quorum margin %v, want 1 (3 voters, 2 needed)", v)
	}

	res := clitest.Run(t, nil, "defrag", "--endpoints", strings.Join(pg.Endpoints(), ","), "--rule", "fragmentation >= 0.3")
	if res.Code != 0 {
		t.Fatalf("defrag exit %d", res.Code)
	}
	after := scrape(t, srv.URL)
	for f := range findings(t, after) {
		if strings.HasPrefix(f, "space.fragmentation ") {
			t.Errorf("still there after defrag: %s", f)
		}
	}
	for name, v := range promfiletest.Labels(t, after, exporter.DBReclaimable, "member") {
		if v >= reclaimable[name]/2 {
			t.Errorf("%s: reclaimable %v after defrag, was %v", name, v, reclaimable[name])
		}
	}
}

// One member SIGSTOPped: the scrape answers within --command-timeout + 1 s,
// the member is down and its checks unknown, quorum still holds.
func TestExporterHungMemberDoesNotHangScrape(t *testing.T) {
	pg := playgroundtest.Start(t, playground.Options{Members: 3})
	_, srv := serve(t, pg, 2*time.Second)
	scrape(t, srv.URL) // connections up before the member hangs
	hung := playgroundtest.PauseFollower(t, pg)
	for i := 0; i < 2; i++ { // a second scrape on the half-broken connection too
		start := time.Now()
		data := scrape(t, srv.URL)
		took := time.Since(start)
		t.Logf("scrape %d with %s hung: %s; findings %v", i, hung.Name, took.Round(time.Millisecond), findings(t, data))
		if took > 3*time.Second {
			t.Errorf("scrape %d took %s with a hung member, want ≤ command timeout 2s + 1s", i, took)
		}
		if up := promfiletest.Labels(t, data, exporter.MemberUp, "member"); up[hung.Name] != 0 || len(up) != 3 {
			t.Errorf("member_up %v, want %s at 0", up, hung.Name)
		}
		if v := value(t, data, exporter.QuorumMargin); v != 0 {
			t.Errorf("quorum margin %v, want 0 with one of three down", v)
		}
		if fs := findings(t, data); !fs["status.reachable "+hung.Name+" unknown"] || !fs["quorum.margin  warn"] {
			t.Errorf("want status.reachable unknown for %s and a quorum margin warning: %v", hung.Name, fs)
		}
	}
}

// 1,000 scrapes in a row, each running the checks: no goroutine growth and
// the process's resident memory grows by less than 5 MB.
func TestExporterThousandScrapesSteady(t *testing.T) {
	pg := playgroundtest.Start(t, playground.Options{Members: 1})
	_, srv := serve(t, pg, 5*time.Second)
	for range 100 { // warm up: connections, pools, caches
		scrape(t, srv.URL)
	}
	http.DefaultClient.CloseIdleConnections()
	// Resident memory after a collection that hands freed pages back (as the
	// runtime's scavenger does within minutes): what is retained, not where
	// the garbage collector's pacing happened to leave the heap under load.
	debug.FreeOSMemory()
	g0, rss0 := runtime.NumGoroutine(), rss(t)
	for range 1000 {
		scrape(t, srv.URL)
	}
	http.DefaultClient.CloseIdleConnections()
	runtime.GC()
	// Goroutines of closed connections may take a moment to return.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > g0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	debug.FreeOSMemory()
	g1, rss1 := runtime.NumGoroutine(), rss(t)
	t.Logf("goroutines %d → %d, RSS %.1f → %.1f MB", g0, g1, float64(rss0)/1e6, float64(rss1)/1e6)
	if g1 > g0 {
		t.Errorf("goroutines grew from %d to %d", g0, g1)
	}
	if rss1-rss0 > 5e6 {
		t.Errorf("RSS grew by %.1f MB over 1000 scrapes", float64(rss1-rss0)/1e6)
	}
}

func rss(t testing.TB) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func value(t testing.TB, data []byte, family string) float64 {
	t.Helper()
	mf, ok := promfiletest.Parse(t, data)[family]
	if !ok || len(mf.GetMetric()) == 0 {
		t.Fatalf("no %s", family)
	}
	return promfiletest.Value(mf.GetMetric()[0])
}

// The quota ETA comes from the growth between scrapes: +Inf before the DB
// grows, finite and within reason after a few MiB are written.
func TestExporterQuotaETAFromGrowth(t *testing.T) {
	pg := playgroundtest.Start(t, playground.Options{Members: 1})
	_, srv := serve(t, pg, 5*time.Second)
	scrape(t, srv.URL)
	first := scrape(t, srv.URL)
	if eta := promfiletest.Labels(t, first, exporter.QuotaETA, "member")["m1"]; !math.IsInf(eta, 1) {
		t.Errorf("ETA %v before any growth, want +Inf", eta)
	}
	playgroundtest.Seed(t, pg, playground.SeedOptions{Pods: 400, PodPadding: 10000})
	size0 := promfiletest.Labels(t, first, exporter.DBSize, "member")["m1"]
	var data []byte
	var size float64
	// The member reports its new size after its next backend commit.
	for deadline := time.Now().Add(10 * time.Second); size <= size0 && time.Now().Before(deadline); {
		data = scrape(t, srv.URL)
		size = promfiletest.Labels(t, data, exporter.DBSize, "member")["m1"]
	}
	eta := promfiletest.Labels(t, data, exporter.QuotaETA, "member")["m1"]
	quota := promfiletest.Labels(t, data, exporter.DBQuota, "member")["m1"]
	if math.IsInf(eta, 0) || eta <= 0 || eta > 30*24*3600 {
		t.Fatalf("ETA %v s after growing to %v of %v bytes", eta, size, quota)
	}
	t.Logf("DB %v of %v bytes, ETA %.0f s", size, quota, eta)
}

// Scrapes within --min-interval are served the last run: the checks ran
// once (one timestamp, one duration), however many scrapes came.
func TestExporterMinIntervalCaches(t *testing.T) {
	pg := playgroundtest.Start(t, playground.Options{Members: 1})
	_, srv := serveWith(t, pg, exporter.Options{Deadline: 5 * time.Second, MinInterval: time.Hour}, 5*time.Second)
	first := scrape(t, srv.URL)
	ts := value(t, first, exporter.ChecksTimestamp)
	if err := pg.Member(0).Pause(); err != nil { // a run of the checks now would see it down
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Member(0).Resume() })
	start := time.Now()
	for range 5 {
		data := scrape(t, srv.URL)
		if v := value(t, data, exporter.ChecksTimestamp); v != ts {
			t.Fatalf("checks ran again within --min-interval: timestamp %v, was %v", v, ts)
		}
		if up := promfiletest.Labels(t, data, exporter.MemberUp, "member")["m1"]; up != 1 {
			t.Fatalf("member_up %v: not the cached run", up)
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("5 cached scrapes took %s", took)
	}
}

// --snapshot-dir: an empty directory is +Inf old (a "too old" alert fires),
// a snapshot saved by `etcdmedic snapshot save` is seconds old.
func TestExporterSnapshotAge(t *testing.T) {
	pg := playgroundtest.Start(t, playground.Options{Members: 1})
	dir := t.TempDir()
	_, srv := serveWith(t, pg, exporter.Options{Deadline: 5 * time.Second, SnapshotDir: dir}, 5*time.Second)
	if age := promfiletest.Labels(t, scrape(t, srv.URL), exporter.SnapshotAge, "dir")[dir]; !math.IsInf(age, 1) {
		t.Errorf("age %v with no snapshot, want +Inf", age)
	}
	res := clitest.Run(t, nil, "snapshot", "save", dir, "--endpoints", strings.Join(pg.Endpoints(), ","), "--command-timeout", "20s")
	if res.Code != 0 {
		t.Fatalf("snapshot save exit %d", res.Code)
	}
	data := scrape(t, srv.URL)
	if age := promfiletest.Labels(t, data, exporter.SnapshotAge, "dir")[dir]; age < 0 || age > 60 {
		t.Errorf("age %v s after a save", age)
	}
	if bad := promfiletest.Labels(t, data, exporter.SnapshotDirErrors, "dir")[dir]; bad != 0 {
		t.Errorf("snapshot dir error %v", bad)
	}
}
