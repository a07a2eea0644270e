package breakglass_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/commands/clitest"
)

type probesJSON struct {
	ReadBytesPerSecond float64 `json:"readBytesPerSecond"`
	Enough             bool    `json:"enough"`
	Liveness, Startup  struct {
		Present       bool    `json:"present"`
		BudgetSeconds float64 `json:"budgetSeconds"`
	}
	Next  string `json:"next"`
	Check struct {
		ID, Severity, Advice string
	} `json:"check"`
	Edit *struct {
		JournalSeq int `json:"journalSeq"`
	} `json:"edit"`
}

// probesFixture is the kubeadm node fixture with a bolt file of dbBytes
// under its etcd data dir; it returns the root and the manifest directory.
func probesFixture(t *testing.T, dbBytes int) (root, manifests string) {
	t.Helper()
	root = fixtureRoot(t)
	db := filepath.Join(root, "var/lib/etcd/member/snap/db")
	if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, make([]byte, dbBytes), 0o600); err != nil {
		t.Fatal(err)
	}
	return root, filepath.Join(root, "etc/kubernetes/manifests")
}

func decodeProbes(t *testing.T, r clitest.Result) probesJSON {
	t.Helper()
	var v probesJSON
	if err := json.Unmarshal([]byte(r.Stdout), &v); err != nil {
		t.Fatalf("%v: %s", err, r.Stdout)
	}
	return v
}

func TestProbesRelaxOnAKubeadmFixtureAndUndo(t *testing.T) {
	root, manifests := probesFixture(t, 4<<20)
	before := snapshotFiles(t, manifests)
	manifest := filepath.Join(manifests, "etcd.yaml")
	decode := func(r clitest.Result) probesJSON { t.Helper(); return decodeProbes(t, r) }
	r := clitest.Run(t, noEtcd, "breakglass", "probes", "--root", root, "-o", "json")
	v := decode(r)
	if r.Code != 0 || !v.Enough || v.ReadBytesPerSecond <= 0 || v.Liveness.BudgetSeconds != 90 || v.Startup.Present {
		t.Fatalf("4 MiB db: exit %d %+v; want enough, a measured rate, liveness 10+8×10 s, no startup probe", r.Code, v)
	}
	r = clitest.Run(t, noEtcd, "breakglass", "probes", "--root", root, "--expected-start", "10m", "-o", "json")
	v = decode(r)
	if r.Code != 1 || v.Enough || v.Next != "etcdmedic breakglass probes --relax --expected-start 10m0s --root "+root ||
		v.Check.ID != "node.probeBudget" || v.Check.Severity != "warn" || v.Check.Advice != v.Next {
		t.Fatalf("10 min start: exit %d %+v; want 1, a warning and the --relax command with this run's flags", r.Code, v)
	}
	r = clitest.Run(t, noEtcd, "breakglass", "probes", "--root", root, "--expected-start", "10m", "--relax")
	if r.Code != 4 || !same(before, snapshotFiles(t, manifests)) {
		t.Fatalf("unconfirmed --relax: exit %d or files changed", r.Code)
	}
	r = clitest.Run(t, noEtcd, "breakglass", "probes", "--root", root, "--expected-start", "10m", "--relax", "--yes", "-o", "json")
	v = decode(r)
	if r.Code != 0 || v.Edit == nil {
		t.Fatalf("--relax --yes: exit %d %s", r.Code, r.Stdout)
	}
	data, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := bg.ParseManifest(manifest, data)
	if err != nil {
		t.Fatalf("the relaxed manifest is not a Pod: %v", err)
	}
	c := m.Pod.Spec.Containers[0]
	sp, lp := c.StartupProbe, c.LivenessProbe
	if sp == nil || float64(sp.InitialDelaySeconds)+float64(sp.FailureThreshold*sp.PeriodSeconds) < 1200 || sp.HTTPGet == nil || sp.HTTPGet.Path != "/livez" {
		t.Fatalf("startup probe %+v: want /livez with a budget ≥ 1200 s", sp)
	}
	if lp == nil || lp.FailureThreshold != 8 || lp.PeriodSeconds != 10 || lp.InitialDelaySeconds != 10 {
		t.Fatalf("liveness probe changed: %+v", lp)
	}
	r = clitest.Run(t, noEtcd, "breakglass", "probes", "--root", root, "--expected-start", "10m", "-o", "json")
	if v = decode(r); r.Code != 0 || !v.Enough || v.Next != "" {
		t.Fatalf("after --relax: exit %d %+v", r.Code, v)
	}
	r = clitest.Run(t, noEtcd, "breakglass", "undo", "--root", root, "--yes")
	if r.Code != 0 || !same(before, snapshotFiles(t, manifests)) {
		t.Fatalf("undo: exit %d, manifests byte-identical: %v", r.Code, same(before, snapshotFiles(t, manifests)))
	}
}

// probes judges with doctor's thresholds: --set probes.margin=3x turns a
// budget that fits the start once (90 s for 60 s) into a warning, the
// advice carries the --set (run as printed it writes a budget of 3× the
// start, which the same judgement then finds enough), and a bad preset or
// value is a usage error before anything is read.
func TestProbesJudgeWithDoctorsThresholds(t *testing.T) {
	root, manifests := probesFixture(t, 1<<20)
	before := snapshotFiles(t, manifests)
	probes := func(extra ...string) (clitest.Result, probesJSON) {
		t.Helper()
		r := clitest.Run(t, noEtcd, append([]string{"breakglass", "probes", "--root", root, "--expected-start", "1m", "-o", "json"}, extra...)...)
		return r, decodeProbes(t, r)
	}
	if r, v := probes(); r.Code != 0 || !v.Enough {
		t.Fatalf("60 s start in a 90 s liveness budget, default margin: exit %d %+v; want enough", r.Code, v)
	}
	r, v := probes("--set", "probes.margin=3x")
	want := "etcdmedic breakglass probes --relax --expected-start 1m0s --set probes.margin=3x --root " + root
	if r.Code != 1 || v.Enough || v.Check.Severity != "warn" || v.Next != want || v.Check.Advice != want {
		t.Fatalf("margin 3x: exit %d %+v; want 1, warn and advice %q", r.Code, v, want)
	}
	words := strings.Fields(v.Next)
	if r := clitest.Run(t, noEtcd, append(words[1:], "--yes")...); r.Code != 0 {
		t.Fatalf("%s --yes: exit %d\n%s%s", v.Next, r.Code, r.Stdout, r.Stderr)
	}
	if r, v := probes("--set", "probes.margin=3x"); r.Code != 0 || !v.Enough || v.Startup.BudgetSeconds < 180 {
		t.Fatalf("after the advice ran: exit %d %+v; want enough with a startup budget ≥ 180 s", r.Code, v)
	}
	if r := clitest.Run(t, noEtcd, "breakglass", "undo", "--root", root, "--yes"); r.Code != 0 || !same(before, snapshotFiles(t, manifests)) {
		t.Fatalf("undo: exit %d", r.Code)
	}
	for _, bad := range [][]string{{"--set", "probes.margin=0"}, {"--set", "nosuch.key=1"}, {"--preset", "nope"}} {
		r := clitest.Run(t, noEtcd, append([]string{"breakglass", "probes", "--root", root}, bad...)...)
		if r.Code != 64 || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 1 {
			t.Errorf("%v: exit %d, stderr %q; want 64 with a one-line error", bad, r.Code, r.Stderr)
		}
	}
}
