package status_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// scrapesServed is the member's own count of /metrics requests it answered
// (promhttp counts a request once it is answered, so this one is not in it).
func scrapesServed(t *testing.T, endpoint string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := cluster.ScrapeMetrics(ctx, http.DefaultClient, endpoint+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	v, ok := s.Value("promhttp_metric_handler_requests_total")
	if !ok {
		t.Fatalf("%s exports no promhttp_metric_handler_requests_total", endpoint)
	}
	return v
}

// The scrapes start before the member list (beside the connections) and the
// probe takes them: every member is scraped once per status, whether its
// endpoint was given or found through the member list.
func TestStatusScrapesEachMemberOnce(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	eps := c.Endpoints()
	for _, given := range [][]string{eps, eps[:1]} {
		before := map[string]float64{}
		for _, ep := range eps {
			before[ep] = scrapesServed(t, ep)
		}
		res := clitest.Run(t, nil, "status", "-o", "json", "--endpoints", strings.Join(given, ","))
		if res.Code != 0 {
			t.Fatalf("--endpoints %v: exit %d\n%s", given, res.Code, res.Stderr)
		}
		for _, m := range decode(t, res.Stdout).Members {
			if m.WALFsyncP99Seconds == nil {
				t.Fatalf("--endpoints %v: member %s has no fsync p99: not scraped", given, m.Name)
			}
		}
		for _, ep := range eps {
			// before's own scrape, then the status's one.
			if got := scrapesServed(t, ep) - before[ep]; got != 2 {
				t.Errorf("--endpoints %v: %s served %v scrapes during the status, want 1", given, ep, got-1)
			}
		}
	}
}
