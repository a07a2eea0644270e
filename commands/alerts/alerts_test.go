package alerts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
)

type rulesDoc struct {
	Groups []struct {
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

func exprOf(t *testing.T, out, alert string) string {
	t.Helper()
	var d rulesDoc
	if err := yaml.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	for _, g := range d.Groups {
		for _, r := range g.Rules {
			if r.Alert == alert {
				return r.Expr
			}
		}
	}
	t.Fatalf("no %s in\n%s", alert, out)
	return ""
}

// --set changes the rule: fsync.warn 10ms → 20ms, frag.ratio 0.5 → 0.33,
// quota.warn via the openshift preset.
func TestAlertsFollowThresholds(t *testing.T) {
	def := clitest.Run(t, nil, "alerts")
	set := clitest.Run(t, nil, "alerts", "--set", "fsync.warn=20ms", "--set", "frag.ratio=0.33")
	osh := clitest.Run(t, nil, "alerts", "--preset", "openshift")
	if def.Code != 0 || set.Code != 0 || osh.Code != 0 {
		t.Fatalf("exit %d %d %d", def.Code, set.Code, osh.Code)
	}
	for _, c := range []struct {
		out, alert, want string
	}{
		{def.Stdout, "EtcdmedicWALFsyncSlow", "[5m]))) > 0.01\n"},
		{set.Stdout, "EtcdmedicWALFsyncSlow", "[5m]))) > 0.02\n"},
		{def.Stdout, "EtcdmedicDatabaseFragmented", ">= 0.5\n"},
		{set.Stdout, "EtcdmedicDatabaseFragmented", ">= 0.33\n"},
		{def.Stdout, "EtcdmedicDatabaseQuotaWarning", ">= 0.8"},
		{osh.Stdout, "EtcdmedicDatabaseQuotaWarning", ">= 0.75"},
	} {
		if e := exprOf(t, c.out, c.alert); !strings.Contains(e, c.want) {
			t.Errorf("%s: %q lacks %q", c.alert, e, c.want)
		}
	}
}

// The command's own output passes promtool: the rules file checks, its
// printed tests pass against it, and the PrometheusRule holds the same groups.
func TestAlertsCommandOutputPassesPromtool(t *testing.T) {
	dir := t.TempDir()
	rules := clitest.Run(t, nil, "alerts", "--set", "quota.warn=70%")
	tests := clitest.Run(t, nil, "alerts", "--set", "quota.warn=70%", "--format", "tests")
	pr := clitest.Run(t, nil, "alerts", "--set", "quota.warn=70%", "--format", "prometheusrule", "--namespace", "monitoring")
	if err := os.WriteFile(filepath.Join(dir, "etcdmedic-rules.yaml"), []byte(rules.Stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	var files []string
	for i, doc := range strings.Split(tests.Stdout, "---\n") {
		name := filepath.Join(dir, "tests"+string(rune('0'+i))+".yaml")
		files = append(files, name)
		if err := os.WriteFile(name, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("promtool", "check", "rules", filepath.Join(dir, "etcdmedic-rules.yaml")).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	cmd := exec.Command("promtool", append([]string{"test", "rules"}, files...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	var obj struct {
		Kind     string         `json:"kind"`
		Metadata map[string]any `json:"metadata"`
		Spec     rulesDoc       `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(pr.Stdout), &obj); err != nil {
		t.Fatal(err)
	}
	var plain rulesDoc
	if err := yaml.Unmarshal([]byte(rules.Stdout), &plain); err != nil {
		t.Fatal(err)
	}
	if obj.Kind != "PrometheusRule" || obj.Metadata["namespace"] != "monitoring" || len(obj.Spec.Groups) != len(plain.Groups) ||
		exprOf(t, rules.Stdout, "EtcdmedicDatabaseQuotaWarning") != obj.Spec.Groups[0].Rules[5].Expr {
		t.Errorf("PrometheusRule differs from the rules file:\n%s", pr.Stdout)
	}
}

// Usage errors, without a cluster: exit 64 naming the choices.
func TestAlertsUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--preset", "nope"}, "valid presets are openshift, upstream"},
		{[]string{"--format", "json"}, "valid formats are rules, prometheusrule, tests"},
		{[]string{"--set", "nope=1"}, "unknown override"},
		{[]string{"--quota-eta", "1s"}, "--quota-eta"},
	} {
		res := clitest.Run(t, nil, append([]string{"alerts"}, tc.args...)...)
		if res.Code != 64 || !strings.Contains(res.Stderr, tc.want) || res.Stdout != "" {
			t.Errorf("%v: exit %d, stderr %q; want 64 naming %q", tc.args, res.Code, res.Stderr, tc.want)
		}
	}
}
