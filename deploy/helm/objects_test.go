package helm_test

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
)

// Every object the chart renders — defaults, everything on, and every
// boolean of values.yaml flipped from everything-on — is accepted by a real
// kube-apiserver (server-side dry-run, strict field validation), after
// prometheus-operator's CRDs are installed.
func TestChartObjectsAcceptedByAPIServer(t *testing.T) {
	a := startAPIServer(t)
	// Without the CRDs the monitoring objects are left out and NOTES.txt
	// says so, rather than failing the install on a kind nobody reads; with
	// them, helm sees the API and renders both.
	out := a.helmInstallDryRun(t)
	if strings.Contains(out, "kind: ServiceMonitor") || strings.Contains(out, "kind: PrometheusRule") {
		t.Fatalf("monitoring kinds rendered without their API:\n%s", out)
	}
	for _, want := range []string{"ServiceMonitor NOT created", "PrometheusRule NOT created"} {
		if !strings.Contains(out, want) {
			t.Errorf("NOTES do not say %q:\n%s", want, out)
		}
	}
	a.installCRDs(t)
	if out := a.helmInstallDryRun(t); !strings.Contains(out, "kind: ServiceMonitor") || !strings.Contains(out, "kind: PrometheusRule") || strings.Contains(out, "NOT created") {
		t.Fatalf("with the CRDs installed helm did not render the monitoring kinds:\n%s", out)
	}

	type variant struct {
		name  string
		files []string
		sets  []string
		kinds []string // what must be rendered, sorted
	}
	variants := []variant{
		{name: "defaults", kinds: []string{"CronJob", "Deployment", "Service", "ServiceAccount"}},
		{name: "everything on", files: []string{everything},
			kinds: []string{"CronJob", "CronJob", "CronJob", "Deployment", "PrometheusRule", "Service", "ServiceAccount", "ServiceMonitor"}},
	}
	for _, b := range booleans(t) {
		variants = append(variants, variant{name: "everything on, " + b.path + "=" + fmt.Sprint(!b.onEverything),
			files: []string{everything}, sets: []string{fmt.Sprintf("%s=%v", b.path, !b.onEverything)}})
	}
	if len(variants) < 12 {
		t.Fatalf("only %d variants: booleans() found too few values", len(variants))
	}
	for _, v := range variants {
		objs := decodeAll(t, render(t, v.files, v.sets...))
		var kinds []string
		for _, o := range objs {
			kinds = append(kinds, o["kind"].(string))
			if err := a.dryRunCreate(o); err != nil {
				t.Errorf("%s: rejected: %v", v.name, err)
			}
		}
		sort.Strings(kinds)
		if v.kinds != nil && !slices.Equal(kinds, v.kinds) {
			t.Errorf("%s: rendered %v, want %v", v.name, kinds, v.kinds)
		}
		if len(objs) == 0 {
			t.Errorf("%s: rendered nothing", v.name)
		}
		t.Logf("%s: %d objects accepted: %v", v.name, len(objs), kinds)
	}

	// The dry-run does validate: a field the API does not know is refused.
	bad := find(t, decodeAll(t, render(t, nil)), "CronJob", "-defrag")
	bad["spec"].(map[string]any)["concurrencyPolicyy"] = "Forbid"
	if err := a.dryRunCreate(bad); err == nil || !strings.Contains(err.Error(), "concurrencyPolicyy") {
		t.Fatalf("an unknown field was accepted: %v", err)
	}
}

type boolValue struct {
	path         string
	onEverything bool
}

// booleans lists every boolean leaf of values.yaml with its value under
// the everything-on file.
func booleans(t *testing.T) []boolValue {
	t.Helper()
	def, every := readYAML(t, "etcdmedic/values.yaml"), readYAML(t, everything)
	var out []boolValue
	var walk func(prefix string, d, e map[string]any)
	walk = func(prefix string, d, e map[string]any) {
		for k, v := range d {
			p := prefix + k
			ev, _ := e[k]
			switch x := v.(type) {
			case bool:
				if eb, ok := ev.(bool); ok {
					x = eb
				}
				out = append(out, boolValue{p, x})
			case map[string]any:
				em, _ := ev.(map[string]any)
				walk(p+".", x, em)
			}
		}
	}
	walk("", def, every)
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

func readYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func find(t *testing.T, objs []map[string]any, kind, nameSuffix string) map[string]any {
	t.Helper()
	for _, o := range objs {
		if o["kind"] == kind && strings.HasSuffix(o["metadata"].(map[string]any)["name"].(string), nameSuffix) {
			return o
		}
	}
	t.Fatalf("no %s *%s rendered", kind, nameSuffix)
	return nil
}

// get walks a path of map keys and list indexes ("spec.jobTemplate.0").
func get(t *testing.T, v any, path string) any {
	t.Helper()
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			var i int
			fmt.Sscan(k, &i)
			if i >= len(x) {
				t.Fatalf("%s: index %d out of %d", path, i, len(x))
			}
			v = x[i]
		default:
			t.Fatalf("%s: %q is not a map or list in %v", path, k, v)
		}
	}
	return v
}

// The defaults are the kubeadm CronJob of docs/examples/defrag-cronjob.yaml:
// on a control-plane node, host network, the manifest and PKI read-only,
// one run at a time, nothing writable, nothing retried.
func TestChartDefaultsFitKubeadm(t *testing.T) {
	objs := decodeAll(t, render(t, nil))
	cj := find(t, objs, "CronJob", "-defrag")
	pod := get(t, cj, "spec.jobTemplate.spec.template.spec")
	c := get(t, pod, "containers.0")
	for path, want := range map[string]any{
		"spec.concurrencyPolicy":                                           "Forbid",
		"spec.jobTemplate.spec.backoffLimit":                               float64(0),
		"spec.jobTemplate.spec.template.spec.hostNetwork":                  true,
		"spec.jobTemplate.spec.template.spec.restartPolicy":                "Never",
		"spec.jobTemplate.spec.template.spec.securityContext.runAsUser":    float64(0),
		"spec.jobTemplate.spec.template.spec.automountServiceAccountToken": false,
	} {
		if got := get(t, cj, path); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	if _, ok := get(t, pod, "nodeSelector").(map[string]any)["node-role.kubernetes.io/control-plane"]; !ok {
		t.Errorf("nodeSelector %v", get(t, pod, "nodeSelector"))
	}
	if tol := fmt.Sprint(get(t, pod, "tolerations")); !strings.Contains(tol, "node-role.kubernetes.io/control-plane") {
		t.Errorf("tolerations %s", tol)
	}
	sc := get(t, c, "securityContext").(map[string]any)
	if sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false || fmt.Sprint(get(t, sc, "capabilities.drop")) != "[ALL]" {
		t.Errorf("container securityContext %v", sc)
	}
	if get(t, c, "resources.requests.cpu") == nil || get(t, c, "resources.requests.memory") == nil {
		t.Errorf("no resource requests: %v", get(t, c, "resources"))
	}
	mounts := fmt.Sprint(get(t, c, "volumeMounts"))
	for _, p := range []string{"/etc/kubernetes/manifests", "/etc/kubernetes/pki/etcd"} {
		if !strings.Contains(mounts, "mountPath:"+p+" name:") || !strings.Contains(mounts, p+" name:host-") {
			t.Errorf("%s not mounted: %s", p, mounts)
		}
	}
	for _, m := range get(t, c, "volumeMounts").([]any) {
		mm := m.(map[string]any)
		if strings.HasPrefix(mm["name"].(string), "host-") && mm["readOnly"] != true {
			t.Errorf("host path mounted writable: %v", mm)
		}
	}
	args := fmt.Sprint(get(t, c, "args"))
	for _, want := range []string{"defrag", "--rule-preset=mixin", "--lock=true", "--output=json"} {
		if !strings.Contains(args, want) {
			t.Errorf("defrag args %s lack %s", args, want)
		}
	}
	if img := get(t, c, "image").(string); !strings.HasPrefix(img, "ghcr.io/etcdmedic/etcdmedic:") || strings.HasSuffix(img, ":") {
		t.Errorf("image %q", img)
	}
	dep := find(t, objs, "Deployment", "-exporter")
	if a := fmt.Sprint(get(t, dep, "spec.template.spec.containers.0.args")); !strings.Contains(a, "exporter --listen=$(POD_IP):9979") {
		t.Errorf("exporter args %s", a)
	}
}

// With everything on: credentials only from the Secret, the textfile
// mounted where metrics are written, the drill pointed at the save's URL
// with the identity from its Secret.
func TestChartEverythingOn(t *testing.T) {
	objs := decodeAll(t, render(t, []string{everything}))
	save := get(t, find(t, objs, "CronJob", "-snapshot"), "spec.jobTemplate.spec.template.spec.containers.0")
	if fmt.Sprint(get(t, save, "envFrom")) != "[map[secretRef:map[name:etcd-backup-aws]]]" {
		t.Errorf("snapshot envFrom %v", get(t, save, "envFrom"))
	}
	args := fmt.Sprint(get(t, save, "args"))
	for _, want := range []string{"snapshot save --to=s3://backups/etcd/prod?region=eu-west-1 --compress --encrypt-to=age1", "--prune-keep-daily=7", "--metrics-file=/textfile/etcdmedic_snapshot.prom", "--dial-timeout=3s"} {
		if !strings.Contains(args, want) {
			t.Errorf("snapshot args %s lack %s", args, want)
		}
	}
	drill := get(t, find(t, objs, "CronJob", "-drill"), "spec.jobTemplate.spec.template.spec")
	dargs := fmt.Sprint(get(t, drill, "containers.0.args"))
	if !strings.Contains(dargs, "snapshot drill s3://backups/etcd/prod?region=eu-west-1 --identity=/identity/age.key --temp-dir=/scratch") {
		t.Errorf("drill args %s", dargs)
	}
	if v := fmt.Sprint(get(t, drill, "volumes")); !strings.Contains(v, "secretName:etcd-backup-age-identity") || !strings.Contains(v, "type:DirectoryOrCreate") {
		t.Errorf("drill volumes %s", v)
	}
	sm := find(t, objs, "ServiceMonitor", "-exporter")
	if get(t, sm, "metadata.labels.release") != "prometheus" || get(t, sm, "spec.endpoints.0.port") != "metrics" {
		t.Errorf("ServiceMonitor %v", sm)
	}
}

// The PrometheusRule carries exactly what `etcdmedic alerts --format rules`
// prints: files/alerts.rules.yaml must be regenerated when the alerts
// change (etcdmedic alerts --format rules > deploy/helm/etcdmedic/files/alerts.rules.yaml).
func TestChartPrometheusRuleIsEtcdmedicAlerts(t *testing.T) {
	res := clitest.Run(t, nil, "alerts", "--format", "rules")
	if res.Code != 0 {
		t.Fatalf("alerts: exit %d", res.Code)
	}
	file, err := os.ReadFile("etcdmedic/files/alerts.rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(file) != res.Stdout {
		t.Fatalf("deploy/helm/etcdmedic/files/alerts.rules.yaml is stale: regenerate with\n  go run ./cmd/etcdmedic alerts --format rules > deploy/helm/etcdmedic/files/alerts.rules.yaml")
	}
	var want map[string]any
	if err := yaml.Unmarshal([]byte(res.Stdout), &want); err != nil {
		t.Fatal(err)
	}
	pr := find(t, decodeAll(t, render(t, []string{everything})), "PrometheusRule", "etcdmedic")
	if !reflect.DeepEqual(pr["spec"], want) {
		t.Fatalf("PrometheusRule spec differs from etcdmedic alerts --format rules")
	}
}

// Every value is documented in the chart's README (its table names each
// leaf by its full path).
func TestChartREADMEDocumentsEveryValue(t *testing.T) {
	readme, err := os.ReadFile("etcdmedic/README.md")
	if err != nil {
		t.Fatal(err)
	}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			p := prefix + k
			// resources and nodeSelector are documented as a whole.
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 && k != "resources" && k != "nodeSelector" {
				walk(p+".", sub)
				continue
			}
			if !strings.Contains(string(readme), "`"+p+"`") {
				t.Errorf("README.md does not document `%s`", p)
			}
		}
	}
	walk("", readYAML(t, "etcdmedic/values.yaml"))
}

// Every command line the chart renders is one etcdmedic accepts: run with
// --help appended, the real CLI parses every flag and value (an unknown or
// mistyped flag is exit 64) and stops before it connects anywhere.
func TestChartArgsAreEtcdmedicFlags(t *testing.T) {
	seen := 0
	for _, files := range [][]string{nil, {everything}} {
		for _, o := range decodeAll(t, render(t, files)) {
			var spec any
			switch o["kind"] {
			case "CronJob":
				spec = get(t, o, "spec.jobTemplate.spec.template.spec")
			case "Deployment":
				spec = get(t, o, "spec.template.spec")
			default:
				continue
			}
			for _, c := range get(t, spec, "containers").([]any) {
				var args []string
				for _, a := range c.(map[string]any)["args"].([]any) {
					args = append(args, a.(string))
				}
				res := clitest.Run(t, nil, append(args, "--help")...)
				if res.Code != 0 || !strings.Contains(res.Stdout, "Usage:") {
					t.Errorf("%v: etcdmedic %s: exit %d\n%s", files, strings.Join(args, " "), res.Code, res.Stderr)
				}
				seen++
			}
		}
	}
	if seen != 6 {
		t.Fatalf("checked %d command lines, want 6 (defrag, exporter; defrag, snapshot, drill, exporter)", seen)
	}
}
