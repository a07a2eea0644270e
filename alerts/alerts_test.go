package alerts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/alerts"
	"github.com/etcdmedic/etcdmedic/health"
)

func promtool(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not installed (scripts/test.sh installs Debian's prometheus package): %v", err)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// generate writes the rules file and its tests for the thresholds.
func generate(t *testing.T, preset string, set ...string) (dir string, gs []alerts.Group) {
	t.Helper()
	th, err := health.Resolve(preset, set)
	if err != nil {
		t.Fatal(err)
	}
	o := alerts.DefaultOptions()
	o.Thresholds, o.Preset = th, preset
	gs = alerts.Generate(o)
	dir = t.TempDir()
	for _, f := range alerts.TestFiles(gs, "rules.yaml") {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for format, file := range map[string]string{alerts.FormatRules: "rules.yaml", alerts.FormatPrometheusRule: "prometheusrule.yaml"} {
		data, err := alerts.Render(gs, format, "etcdmedic", "monitoring", "rules.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, file), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, gs
}

// Every generated alert passes promtool's checks and its own unit tests (a
// series just past its threshold fires it, ones short of it do not), for
// both presets and with thresholds changed by --set.
func TestGeneratedRulesPassPromtool(t *testing.T) {
	for _, tc := range []struct {
		preset string
		set    []string
	}{
		{"upstream", nil},
		{"openshift", nil},
		{"upstream", []string{"fsync.warn=20ms", "fsync.crit=1s", "quota.warn=0.7", "frag.ratio=0.33", "frag.minInUse=10MiB", "leaderChanges.warn=3", "latency.minObservations=0"}},
	} {
		t.Run(tc.preset+" "+strings.Join(tc.set, " "), func(t *testing.T) {
			dir, gs := generate(t, tc.preset, tc.set...)
			out := promtool(t, "check", "rules", "--lint-fatal", filepath.Join(dir, "rules.yaml"))
			names := alerts.Alertnames(gs)
			if !strings.Contains(out, "SUCCESS: "+strconv.Itoa(len(names))+" rules found") {
				t.Errorf("promtool check rules: %s", out)
			}
			var files []string
			var all strings.Builder
			for _, f := range alerts.TestFiles(gs, "rules.yaml") {
				files = append(files, f.Name)
				all.Write(f.Data)
			}
			cmd := exec.Command("promtool", append([]string{"test", "rules"}, files...)...)
			cmd.Dir = dir
			if b, err := cmd.CombinedOutput(); err != nil {
				rules, _ := os.ReadFile(filepath.Join(dir, "rules.yaml"))
				t.Fatalf("promtool test rules: %v\n%s\nrules:\n%s\ntests:\n%s", err, b, rules, all.String())
			}
			// One firing test per alert, at least one quiet one each.
			tests := all.String()
			for _, n := range names {
				if !strings.Contains(tests, "name: '"+n+": fires") || !strings.Contains(tests, "name: '"+n+": stays quiet") {
					t.Errorf("%s lacks a firing or a quiet test", n)
				}
				for _, g := range gs {
					for _, r := range g.Rules {
						if r.Alert == n && !strings.HasPrefix(r.Runbook, "etcdmedic ") && !strings.Contains(r.Runbook, "etcdmedic ") {
							t.Errorf("%s: runbook %q names no etcdmedic command", n, r.Runbook)
						}
					}
				}
			}
		})
	}
}
