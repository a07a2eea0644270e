package cluster

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
)

// The families the checks read, as health.MetricFamilies lists them (health
// imports cluster, so the list is repeated here) with statusFamilies.
var filterTestChecks = []string{
	"etcd_disk_wal_fsync_duration_seconds", "etcd_disk_backend_commit_duration_seconds",
	"etcd_server_leader_changes_seen_total", "etcd_network_peer_round_trip_time_seconds",
	"etcd_server_proposals_failed_total", "etcd_server_proposals_pending", "etcd_server_slow_apply_total",
	"etcd_server_heartbeat_send_failures_total", "etcd_disk_defrag_inflight", "os_fd_used", "os_fd_limit",
	"process_open_fds", "process_max_fds", "etcd_server_quota_backend_bytes",
}

// The checks' families plus a summary, a counter with 765 labelled series and
// a labelled gauge, so every kind of family goes through the filter.
var filterTestFamilies = append(slices.Clone(filterTestChecks),
	"go_gc_duration_seconds", "grpc_server_handled_total", "etcd_server_version")

// On every real scrape, a filtered parse yields exactly the families a full
// parse does for the names asked (every series, label, bucket, count and sum,
// compared as protobuf), and no other family.
func TestMetricsFilterMatchesFullParse(t *testing.T) {
	fixtures, err := filepath.Glob(filepath.Join("testdata", "metrics", "*.txt"))
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, path := range fixtures {
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		full, err := ParseMetricsFamilies(body, time.Unix(0, 0), nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		part, err := ParseMetricsFamilies(body, time.Unix(0, 0), filterTestFamilies)
		if err != nil {
			t.Fatalf("%s filtered: %v", path, err)
		}
		want := 0
		for _, name := range append(slices.Clone(filterTestFamilies), metricsProcessStart) {
			f := full.families[name]
			if f == nil {
				if part.families[name] != nil {
					t.Errorf("%s: %s only in the filtered parse", path, name)
				}
				continue
			}
			want++
			if !proto.Equal(f, part.families[name]) {
				t.Errorf("%s: %s differs:\nfull     %v\nfiltered %v", path, name, f, part.families[name])
			}
		}
		if len(part.families) != want {
			var got []string
			for n := range part.families {
				got = append(got, n)
			}
			t.Errorf("%s: filtered parse has %d families, want %d: %v", path, len(part.families), want, got)
		}
		// The fixture is the real thing: the histograms the doctor reads are there.
		if _, ok := part.HistogramQuantile(metricsTestWAL, 0.99); !ok {
			t.Errorf("%s: no WAL fsync p99 from the filtered parse", path)
		}
		if len(full.families) < 4*want {
			t.Errorf("%s: only %d families in all: the filter saves nothing on this fixture", path, len(full.families))
		}
	}
}

// A suffixed sample belongs to a kept family only when that family is a
// histogram or summary; quoted names, a missing final newline and comments
// that are neither HELP nor TYPE are handled.
func TestMetricsFilterEdges(t *testing.T) {
	text := `# a comment the parser ignores
# HELP req_count a counter whose name ends like a histogram's count
# TYPE req_count counter
req_count 7
# HELP req a counter: req_count above is not part of it
# TYPE req counter
req 3
# HELP lat latency
# TYPE lat histogram
lat_bucket{le="0.1"} 1
lat_bucket{le="+Inf"} 2
lat_sum 0.3
lat_count 2
# TYPE other_total counter
other_total 9
{"quoted.name", code="1"} 4
# TYPE gauge_last gauge
gauge_last 5`
	s, err := ParseMetricsFamilies([]byte(text), time.Unix(0, 0), []string{"req", "lat", "gauge_last", "quoted.name"})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := s.Value("req"); !ok || v != 3 {
		t.Errorf("req = %v %v, want 3", v, ok)
	}
	if _, ok := s.families["req_count"]; ok {
		t.Errorf("req_count was pulled into the parse by the counter req")
	}
	if n, ok := s.HistogramCount("lat"); !ok || n != 2 {
		t.Errorf("lat count = %v %v, want 2", n, ok)
	}
	if v, ok := s.Value("gauge_last"); !ok || v != 5 {
		t.Errorf("gauge_last = %v %v, want 5 (last line without a newline)", v, ok)
	}
	if v, ok := s.Value("quoted.name"); !ok || v != 4 {
		t.Errorf("quoted.name = %v %v, want 4", v, ok)
	}
	if s.Has("process_start_time_seconds") {
		t.Errorf("a family that is not in the scrape is there")
	}
}

// Asking a filtered sample for a family it was not asked to parse is a bug in
// the caller's list: it panics, naming the family, instead of reporting the
// metric absent (which would read as "the member does not export it").
func TestMetricsFilterUnlistedFamilyPanics(t *testing.T) {
	s, err := ParseMetricsFamilies([]byte("# TYPE a gauge\na 1\n# TYPE b gauge\nb 2\n"), time.Unix(0, 0), []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := s.Value("a"); !ok || v != 1 {
		t.Fatalf("a = %v %v", v, ok)
	}
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "metric family b was not parsed") {
			t.Fatalf("recover() = %v, want a panic naming b", r)
		}
	}()
	s.Value("b")
}

// The filter is the point: on etcd's real scrape it parses a fraction of
// what the full parse does.
func BenchmarkParseMetrics(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "metrics", "etcd-3.7.3-after-load.txt"))
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		fams []string
	}{{"all", nil}, {"checks", filterTestChecks}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := ParseMetricsFamilies(body, time.Now(), tc.fams); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A filtered scrape reads the body as it streams: it asks for no compression
// (gzip costs the member CPU on every scrape), keeps a line longer than its
// read buffer whole, still refuses an oversized body, and parses what it kept.
func TestMetricsScrapeFiltered(t *testing.T) {
	fixture, err := os.ReadFile(filepath.Join("testdata", "metrics", "etcd-3.7.3-after-load.txt"))
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("v", 100<<10) // longer than the 64 KiB read buffer
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Accept-Encoding"); got != "identity" {
			http.Error(w, "Accept-Encoding "+got, http.StatusNotAcceptable)
			return
		}
		w.Write(fixture)
		fmt.Fprintf(w, "# TYPE long_label gauge\nlong_label{v=%q} 6\n", long)
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		line := []byte("dropped_family 1\n")
		for range metricsMaxBody/len(line) + 2 {
			if _, err := w.Write(line); err != nil {
				return
			}
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := context.Background()

	s, err := ScrapeMetricsFamilies(ctx, srv.Client(), srv.URL+"/metrics", []string{metricsTestWAL, "long_label"})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := s.HistogramQuantile(metricsTestWAL, 0.99); !ok || !metricsNear(v, 0.008+0.008*1.9/3) {
		t.Errorf("scraped p99 = %v, %v", v, ok)
	}
	if v, ok := s.LabelValue("long_label", "v"); !ok || v != long {
		t.Errorf("the 100 KiB label came back %d bytes long (ok %v)", len(v), ok)
	}
	if !s.Has(metricsProcessStart) {
		t.Errorf("the process start time, which restart detection needs, was not kept")
	}
	if len(s.families) != 3 {
		t.Errorf("%d families parsed, want 3", len(s.families))
	}
	if _, err := ScrapeMetricsFamilies(ctx, srv.Client(), srv.URL+"/huge", []string{metricsTestWAL}); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized body, every line dropped: err = %v", err)
	}
}
