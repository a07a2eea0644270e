package defrag_test

import (
	"os"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/yaml"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
)

// The scheduling examples in docs/ are what people copy; they must parse and
// keep the properties the docs promise.
func TestCronJobExample(t *testing.T) {
	raw, err := os.ReadFile("../../docs/examples/defrag-cronjob.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cj batchv1.CronJob
	if err := yaml.UnmarshalStrict(raw, &cj); err != nil {
		t.Fatalf("not a valid CronJob: %v", err)
	}
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent || !pod.HostNetwork {
		t.Fatalf("concurrencyPolicy %q, hostNetwork %v; want Forbid and true", cj.Spec.ConcurrencyPolicy, pod.HostNetwork)
	}
	tolerated := false
	for _, tol := range pod.Tolerations {
		tolerated = tolerated || tol.Key == "node-role.kubernetes.io/control-plane"
	}
	if !tolerated {
		t.Fatal("no control-plane toleration")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	ctr := pod.Containers[0]
	for _, vm := range ctr.VolumeMounts {
		if !vm.ReadOnly {
			t.Fatalf("mount %s is writable; the host's manifests and PKI must be read-only", vm.MountPath)
		}
	}
	// The arguments must be accepted by this build's defrag command.
	args := append([]string{}, ctr.Args...)
	res := clitest.Run(t, nil, append(args, "--endpoints", "127.0.0.1:1", "--rule-preset", "bogus")...)
	if res.Code != 64 || strings.Contains(res.Stderr, "unknown flag") || !strings.Contains(res.Stderr, `unknown rule preset "bogus"`) {
		t.Fatalf("the CronJob's args are not a valid defrag command line: exit %d %s", res.Code, res.Stderr)
	}
}

func TestSystemdExample(t *testing.T) {
	svc, err := os.ReadFile("../../docs/examples/etcdmedic-defrag.service")
	if err != nil {
		t.Fatal(err)
	}
	timer, err := os.ReadFile("../../docs/examples/etcdmedic-defrag.timer")
	if err != nil {
		t.Fatal(err)
	}
	var exec string
	for _, line := range strings.Split(strings.ReplaceAll(string(svc), "\\\n", " "), "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			exec = v
		}
	}
	f := strings.Fields(exec)
	if len(f) < 2 || f[1] != "defrag" {
		t.Fatalf("ExecStart %q", exec)
	}
	res := clitest.Run(t, nil, append(f[1:], "--endpoints", "127.0.0.1:1", "--rule-preset", "bogus")...)
	if res.Code != 64 || strings.Contains(res.Stderr, "unknown flag") || !strings.Contains(res.Stderr, `unknown rule preset "bogus"`) {
		t.Fatalf("the service's ExecStart is not a valid defrag command line: exit %d %s", res.Code, res.Stderr)
	}
	for _, want := range []string{"Type=oneshot", "SuccessExitStatus=4", "TimeoutStopSec="} {
		if !strings.Contains(string(svc), want) {
			t.Fatalf("service lacks %s", want)
		}
	}
	if !strings.Contains(string(timer), "OnCalendar=") || !strings.Contains(string(timer), "WantedBy=timers.target") {
		t.Fatal("timer lacks OnCalendar or its install target")
	}
}
