package exporter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/alerts"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// A real Prometheus scrapes the exporter and a real etcd member and
// evaluates the generated rules: the fragmentation alert becomes pending
// for the fragmented member, and the exporter's series are queryable.
func TestPrometheusEvaluatesGeneratedRulesOverTheExporter(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus not installed (scripts/test.sh installs Debian's prometheus package): %v", err)
	}
	pg := playgroundtest.Start(t, playground.Options{Members: 1})
	playgroundtest.Seed(t, pg, playground.SeedOptions{Pods: 400, Events: 1000, PodPadding: 1000, EventPadding: 500})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := playground.Fragment(ctx, playgroundtest.Client(t, pg), ""); err != nil {
		t.Fatal(err)
	}
	set := []string{"frag.ratio=0.3", "frag.minInUse=100KiB"}
	_, srv := serve(t, pg, 5*time.Second, set...)

	th, err := health.Resolve("", set)
	if err != nil {
		t.Fatal(err)
	}
	o := alerts.DefaultOptions()
	o.Thresholds = th
	rules, err := alerts.Render(alerts.Generate(o), alerts.FormatRules, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	member, _ := url.Parse(pg.Endpoints()[0])
	config := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yaml]
scrape_configs:
- job_name: etcdmedic
  static_configs: [{targets: [%q]}]
- job_name: etcd
  static_configs: [{targets: [%q]}]
`, strings.TrimPrefix(srv.URL, "http://"), member.Host)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(logf.Name())
			t.Logf("prometheus log:\n%s", log)
		}
	})

	type alert struct {
		Labels map[string]string `json:"labels"`
		State  string            `json:"state"`
	}
	var got []alert
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var resp struct {
			Data struct {
				Alerts []alert `json:"alerts"`
			} `json:"data"`
		}
		if getJSON("http://"+addr+"/api/v1/alerts", &resp) == nil {
			got = resp.Data.Alerts
			for _, a := range got {
				if a.Labels["alertname"] == "EtcdmedicDatabaseFragmented" && a.Labels["member"] == "m1" && a.Labels["job"] == "etcdmedic" {
					if v := query(t, addr, `etcdmedic_db_reclaimable_bytes{member="m1"}`); v <= 0 {
						t.Errorf("reclaimable bytes %v in Prometheus", v)
					}
					if v := query(t, addr, `etcd_mvcc_db_total_size_in_bytes{job="etcd"}`); v <= 0 {
						t.Errorf("etcd's own DB size %v in Prometheus", v)
					}
					return
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("no EtcdmedicDatabaseFragmented alert for m1; alerts: %+v", got)
}

func getJSON(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func query(t *testing.T, addr, q string) float64 {
	t.Helper()
	var resp struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := getJSON("http://"+addr+"/api/v1/query?query="+url.QueryEscape(q), &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Data.Result) == 0 {
		t.Fatalf("%s: no result", q)
	}
	var f float64
	fmt.Sscan(resp.Data.Result[0].Value[1].(string), &f)
	return f
}
