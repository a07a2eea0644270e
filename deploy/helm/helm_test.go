// Package helm_test checks deploy/helm/etcdmedic with real tools: helm
// built from the module proxy (scripts/build-helm.sh) lints and renders it,
// and a real kube-apiserver (scripts/build-kube-apiserver.sh) over a
// playground etcd accepts every rendered object with a server-side dry-run
// under strict field validation.
package helm_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestMain(m *testing.M) {
	playground.RunMemberIfRequested()
	os.Exit(m.Run())
}

const (
	chart       = "etcdmedic"
	helmVersion = "v3.22.0" // what scripts/build-helm.sh builds by default
	namespace   = "kube-system"
	everything  = "etcdmedic/ci/everything-on-values.yaml"
)

// monitoringAPIs are the prometheus-operator kinds the chart renders only
// where the cluster has them; helm template is told they exist.
var monitoringAPIs = []string{"monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule"}

// helmBinary is the cached helm, built by scripts/build-helm.sh when absent
// (a few minutes once; scripts/test.sh builds it before the suite).
func helmBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(playgroundtest.CacheDir(), "helm", helmVersion, "helm")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	out, err := exec.Command("../../scripts/build-helm.sh", helmVersion).CombinedOutput()
	if err != nil {
		t.Fatalf("build helm: %v\n%s", err, out)
	}
	return bin
}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	err := cmd.Run()
	if err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

// render runs helm template with the given values files and --set pairs.
func render(t *testing.T, files []string, sets ...string) string {
	t.Helper()
	args := []string{"template", "etcdmedic", chart, "--namespace", namespace, "--kube-version", "v1.34.4"}
	for _, a := range monitoringAPIs {
		args = append(args, "--api-versions", a)
	}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	out, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestChartLint(t *testing.T) {
	for _, files := range [][]string{nil, {everything}} {
		args := []string{"lint", "--strict", chart, "--kube-version", "v1.34.4"}
		for _, f := range files {
			args = append(args, "-f", f)
		}
		out, err := helm(t, args...)
		if err != nil || !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") {
			t.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		// INFO lines are fine (no icon); nothing worse may be reported.
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "[WARNING]") || strings.Contains(l, "[ERROR]") {
				t.Errorf("helm lint %v: %s", files, l)
			}
		}
	}
}

func TestChartSnapshotNeedsDestination(t *testing.T) {
	out, err := helm(t, "template", "etcdmedic", chart, "--kube-version", "v1.34.4", "--set", "snapshot.enabled=true")
	if err == nil || !strings.Contains(out, "snapshot.to is required") {
		t.Fatalf("snapshot without --to rendered: %v\n%s", err, out)
	}
}
