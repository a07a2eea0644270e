package alerts

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Formats Render writes.
const (
	FormatRules          = "rules"          // a Prometheus rules file (groups:), what promtool checks
	FormatPrometheusRule = "prometheusrule" // the same groups in a prometheus-operator PrometheusRule
	FormatTests          = "tests"          // the promtool unit tests of the rules file
)

// FormatNames lists the formats for help and errors.
func FormatNames() []string { return []string{FormatRules, FormatPrometheusRule, FormatTests} }

type ruleYAML struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type groupYAML struct {
	Name  string     `json:"name"`
	Rules []ruleYAML `json:"rules"`
}

func (r Rule) labels() map[string]string { return map[string]string{"severity": r.Severity} }

func (r Rule) annotations() map[string]string {
	return map[string]string{"summary": r.Summary, "description": r.Description, "runbook": r.Runbook}
}

func promDuration(d time.Duration) string {
	switch {
	case d == 0:
		return ""
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

func groupsYAML(gs []Group) []groupYAML {
	var out []groupYAML
	for _, g := range gs {
		gy := groupYAML{Name: g.Name}
		for _, r := range g.Rules {
			gy.Rules = append(gy.Rules, ruleYAML{Alert: r.Alert, Expr: r.Expr, For: promDuration(r.For), Labels: r.labels(), Annotations: r.annotations()})
		}
		out = append(out, gy)
	}
	return out
}

// Render writes the groups in a format. name and namespace are the
// PrometheusRule's; rulesFile is the rules file the tests load.
func Render(gs []Group, format, name, namespace, rulesFile string) ([]byte, error) {
	var doc any
	switch format {
	case FormatRules:
		doc = map[string]any{"groups": groupsYAML(gs)}
	case FormatPrometheusRule:
		meta := map[string]any{"name": name, "labels": map[string]string{"app.kubernetes.io/name": "etcdmedic"}}
		if namespace != "" {
			meta["namespace"] = namespace
		}
		doc = map[string]any{"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": meta,
			"spec": map[string]any{"groups": groupsYAML(gs)}}
	case FormatTests:
		// One YAML document per evaluation interval; promtool takes each
		// as a file of its own (TestFiles).
		var out []byte
		for i, f := range TestFiles(gs, rulesFile) {
			if i > 0 {
				out = append(out, "---\n"...)
			}
			out = append(out, f.Data...)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unknown format %q: valid formats are %s", format, strings.Join(FormatNames(), ", "))
	}
	return yaml.Marshal(doc)
}

type seriesYAML struct {
	Series string `json:"series"`
	Values string `json:"values"`
}

type expAlert struct {
	ExpLabels      map[string]string `json:"exp_labels"`
	ExpAnnotations map[string]string `json:"exp_annotations"`
}

type alertTest struct {
	EvalTime  string     `json:"eval_time"`
	Alertname string     `json:"alertname"`
	ExpAlerts []expAlert `json:"exp_alerts"`
}

type testGroup struct {
	Name          string       `json:"name"`
	Interval      string       `json:"interval"`
	InputSeries   []seriesYAML `json:"input_series"`
	AlertRuleTest []alertTest  `json:"alert_rule_test"`
}

// TestFile is one promtool unit-test file.
type TestFile struct {
	Name string
	Data []byte
}

// TestFiles are the rules' promtool tests, one file per evaluation
// interval: promtool evaluates every rule at every interval up to a test's
// eval time, so a test over days (a stale weekly job) gets coarse
// evaluation in a file of its own instead of 10,000 rounds of everything.
func TestFiles(gs []Group, rulesFile string) []TestFile {
	byIv := map[time.Duration][]Group{}
	for _, g := range gs {
		for _, r := range g.Rules {
			iv := max(r.Test.Interval, time.Minute)
			byIv[iv] = append(byIv[iv], Group{Name: g.Name, Rules: []Rule{r}})
		}
	}
	var out []TestFile
	for _, iv := range slices.Sorted(maps.Keys(byIv)) {
		name := "tests.yaml"
		if iv != time.Minute {
			name = "tests-" + promDuration(iv) + ".yaml"
		}
		data, _ := yaml.Marshal(tests(byIv[iv], rulesFile, iv))
		out = append(out, TestFile{name, data})
	}
	return out
}

// tests is one promtool test group per case: the fire case expects exactly
// the alert with its labels and annotations, each quiet case expects none.
func tests(gs []Group, rulesFile string, evalInterval time.Duration) map[string]any {
	var groups []testGroup
	for _, g := range gs {
		for _, r := range g.Rules {
			t := r.Test
			one := func(c Case, fire bool) testGroup {
				tg := testGroup{Name: r.Alert + ": " + caseName(c, fire), Interval: promDuration(t.Interval)}
				for _, s := range c.Series {
					tg.InputSeries = append(tg.InputSeries, seriesYAML{s.Selector, s.Values})
				}
				at := alertTest{EvalTime: promDuration(t.EvalAt), Alertname: r.Alert, ExpAlerts: []expAlert{}}
				if fire {
					l := maps.Clone(c.Labels)
					if l == nil {
						l = map[string]string{}
					}
					// A series label "severity" (etcdmedic_finding's) is
					// replaced by the rule's.
					maps.Copy(l, r.labels())
					at.ExpAlerts = []expAlert{{ExpLabels: l, ExpAnnotations: r.annotations()}}
				}
				tg.AlertRuleTest = []alertTest{at}
				return tg
			}
			groups = append(groups, one(t.Fire, true))
			for _, q := range t.Quiet {
				groups = append(groups, one(q, false))
			}
		}
	}
	return map[string]any{"rule_files": []string{rulesFile}, "evaluation_interval": promDuration(evalInterval), "tests": groups}
}

func caseName(c Case, fire bool) string {
	verb := "fires"
	if !fire {
		verb = "stays quiet"
	}
	if c.Name == "" {
		return verb
	}
	return verb + " (" + c.Name + ")"
}

// Alertnames lists every generated alert, for tests.
func Alertnames(gs []Group) []string {
	var out []string
	for _, g := range gs {
		for _, r := range g.Rules {
			out = append(out, r.Alert)
		}
	}
	return slices.Sorted(slices.Values(out))
}
