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
	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// A real Prometheus scrapes the exporter, a real etcd member and a real
// node_exporter whose textfile collector reads what `doctor --node
// --metrics-file` wrote, and evaluates the generated rules: the
// fragmentation alert becomes pending for the fragmented member, the
// critical-finding alert for the node's certificate that expires in 5 days,
// and the exporter's series are queryable.
func TestPrometheusEvaluatesGeneratedRulesOverTheExporter(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus not installed (scripts/test.sh installs Debian's prometheus package): %v", err)
	}
	nodeExporter, err := exec.LookPath("prometheus-node-exporter")
	if err != nil {
		t.Fatalf("node_exporter not installed (scripts/test.sh installs Debian's prometheus-node-exporter package): %v", err)
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
	// doctor --node writes the node's findings where node_exporter's
	// textfile collector reads them.
	textfiles := filepath.Join(dir, "textfile")
	if err := os.MkdirAll(textfiles, 0o755); err != nil {
		t.Fatal(err)
	}
	pki, err := playground.ReissueTLS(filepath.Join(dir, "pki"), 5*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// A directory of its own, as a static-pod directory: the probe budget
	// reads every manifest beside it.
	manifest := filepath.Join(dir, "manifests", "etcd.yaml")
	if err := os.MkdirAll(filepath.Dir(manifest), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manifest, []byte(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: etcd, namespace: kube-system}
spec:
  containers:
  - name: etcd
    command: [etcd, --data-dir=%s, --listen-client-urls=%s, --cert-file=%s, --key-file=%s, --trusted-ca-file=%s, --auto-compaction-retention=1h]
`, pg.Member(0).DataDir(), pg.Endpoints()[0], pki.ServerCert, pki.ServerKey, pki.CA)), 0o600); err != nil {
		t.Fatal(err)
	}
	res := clitest.Run(t, nil, "doctor", "--node", "--manifest", manifest, "--endpoints", pg.Endpoints()[0], "--window", "1s",
		"--metrics-file", filepath.Join(textfiles, "etcdmedic_node.prom"))
	if res.Code != 2 {
		t.Fatalf("doctor --node with a certificate 5 days from expiry: exit %d, want 2\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	nodeAddr := freeAddr(t)
	start(t, dir, "node_exporter", nodeExporter, "--collector.disable-defaults", "--collector.textfile",
		"--collector.textfile.directory="+textfiles, "--web.listen-address="+nodeAddr)

	member, _ := url.Parse(pg.Endpoints()[0])
	config := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yaml]
scrape_configs:
- job_name: etcdmedic
  static_configs: [{targets: [%q]}]
- job_name: etcd
  static_configs: [{targets: [%q]}]
- job_name: node
  static_configs: [{targets: [%q]}]
`, strings.TrimPrefix(srv.URL, "http://"), member.Host, nodeAddr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	start(t, dir, "prometheus", bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")

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
			var fragmented, certificate bool
			for _, a := range got {
				l := a.Labels
				fragmented = fragmented || l["alertname"] == "EtcdmedicDatabaseFragmented" && l["member"] == "m1" && l["job"] == "etcdmedic"
				certificate = certificate || l["alertname"] == "EtcdmedicCritical" && l["job"] == "node" && l["check"] == "node.certExpiry" && l["member"] == pki.ServerCert
			}
			// etcd's own series too: under load a scrape of its /metrics can
			// miss the 1 s interval, so wait for one that landed.
			_, etcdScraped := tryQuery(addr, `etcd_mvcc_db_total_size_in_bytes{job="etcd"}`)
			if fragmented && certificate && etcdScraped {
				if v := query(t, addr, `etcdmedic_db_reclaimable_bytes{member="m1"}`); v <= 0 {
					t.Errorf("reclaimable bytes %v in Prometheus", v)
				}
				if v := query(t, addr, `etcd_mvcc_db_total_size_in_bytes{job="etcd"}`); v <= 0 {
					t.Errorf("etcd's own DB size %v in Prometheus", v)
				}
				// The textfile parsed cleanly: node_exporter reports no error for it.
				if v := query(t, addr, `node_textfile_scrape_error{job="node"}`); v != 0 {
					t.Errorf("node_exporter's textfile scrape error %v", v)
				}
				if v := query(t, addr, `etcdmedic_finding{job="node",check="node.certExpiry",severity="crit"}`); v != 1 {
					t.Errorf("the node's certificate finding in Prometheus: %v", v)
				}
				return
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("want EtcdmedicDatabaseFragmented for m1 (job etcdmedic), EtcdmedicCritical for node.certExpiry (job node) and etcd's own series (job etcd); alerts: %+v", got)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs a server process for the test, logging to dir/name.log (shown
// when the test fails), killed at the end.
func start(t *testing.T, dir, name, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	logf, err := os.Create(filepath.Join(dir, name+".log"))
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
			t.Logf("%s log:\n%s", name, log)
		}
	})
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
	v, err := queryErr(addr, q)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func tryQuery(addr, q string) (float64, bool) {
	v, err := queryErr(addr, q)
	return v, err == nil
}

func queryErr(addr, q string) (float64, error) {
	var resp struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := getJSON("http://"+addr+"/api/v1/query?query="+url.QueryEscape(q), &resp); err != nil {
		return 0, err
	}
	if len(resp.Data.Result) == 0 {
		return 0, fmt.Errorf("%s: no result", q)
	}
	var f float64
	fmt.Sscan(resp.Data.Result[0].Value[1].(string), &f)
	return f, nil
}
