package doctor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// etcdManifest writes a kubeadm-style etcd static-pod manifest naming the
// data dir, the PKI's files and extra flags.
func etcdManifest(t *testing.T, dir, dataDir string, pki *playground.TLSFiles, extra ...string) string {
	t.Helper()
	args := []string{"etcd", "--name=m1", "--data-dir=" + dataDir, "--listen-client-urls=https://127.0.0.1:2379", "--advertise-client-urls=https://127.0.0.1:2379"}
	if pki != nil {
		args = append(args, "--cert-file="+pki.ServerCert, "--key-file="+pki.ServerKey, "--trusted-ca-file="+pki.CA,
			"--peer-cert-file="+pki.ServerCert, "--peer-key-file="+pki.ServerKey, "--peer-trusted-ca-file="+pki.CA)
	}
	args = append(args, extra...)
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\nspec:\n  containers:\n  - name: etcd\n    image: registry.k8s.io/etcd:3.6.0-0\n    command:\n")
	for _, a := range args {
		fmt.Fprintf(&b, "    - %q\n", a)
	}
	path := filepath.Join(dir, "etcd.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func nodeReport(t *testing.T, res clitest.Result) health.Report {
	t.Helper()
	var r health.Report
	if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
		t.Fatalf("doctor --node -o json is not JSON: %v\n%s", err, res.Stdout)
	}
	return r
}

// A real member's data dir and the playground's PKI re-issued with 5 days
// left: the certificates are critical, naming each file; the fdatasync
// probe measured etcd's write pattern and left nothing behind; free space
// is judged against the real DB file.
func TestDoctorNodeCertificatesAboutToExpire(t *testing.T) {
	pg := playgroundtest.Start(t, playground.Options{Members: 1})
	dataDir := pg.Member(0).DataDir()
	dir := t.TempDir()
	pki, err := playground.ReissueTLS(filepath.Join(dir, "pki"), 5*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	manifest := etcdManifest(t, dir, dataDir, pki, "--auto-compaction-retention=8h")
	metrics := filepath.Join(dir, "node.prom")
	before, _ := os.ReadDir(dataDir)
	// The member is plain HTTP: its endpoint is given, or the manifest's
	// certificates would have discovery dial it with TLS.
	res := clitest.Run(t, nil, "doctor", "--node", "--manifest", manifest, "--endpoints", pg.Endpoints()[0], "--window", "1s", "-o", "json", "--metrics-file", metrics)
	r := nodeReport(t, res)
	if res.Code != 2 || r.Severity != health.Crit {
		t.Fatalf("exit %d severity %s, want 2 crit", res.Code, r.Severity)
	}
	crit := map[string]bool{}
	for _, f := range find(r, "node.certExpiry") {
		if f.Severity == health.Crit && strings.Contains(f.Observed, f.Member) && strings.Contains(f.Short, "expires in") {
			crit[f.Member] = true
		}
	}
	if !crit[pki.ServerCert] || crit[pki.CA] {
		t.Errorf("want %s crit (5 days left) and the CA (10 years) not: %v", pki.ServerCert, find(r, "node.certExpiry"))
	}
	fs := find(r, "node.fdatasync")
	if len(fs) != 1 || fs[0].Severity == health.Unknown || !strings.Contains(fs[0].Observed, "p99") {
		t.Errorf("fdatasync probe: %+v", fs)
	}
	if fs := find(r, "node.freeSpace"); len(fs) != 1 || fs[0].Severity == health.Unknown || !strings.Contains(fs[0].Observed, "DB") {
		t.Errorf("free space: %+v", fs)
	}
	if fs := find(r, "node.autoCompaction"); len(fs) != 1 || fs[0].Severity != health.OK || !strings.Contains(fs[0].Observed, "periodic 8h") || !strings.Contains(fs[0].Observed, "rev/s") {
		t.Errorf("auto-compaction: %+v", fs)
	}
	after, _ := os.ReadDir(dataDir)
	if len(after) != len(before) {
		t.Errorf("data dir had %d entries, now %d: the probe file was left behind", len(before), len(after))
	}
	data, err := os.ReadFile(metrics)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `etcdmedic_finding{check="node.certExpiry",member="`+pki.ServerCert+`",severity="crit"} 1`) {
		t.Errorf("metrics file lacks the certificate finding:\n%s", data)
	}
}

// A data dir on a read-only filesystem: the probe is unknown with the
// reason, the other checks still run. No certificates named: unknown, not
// ok; nothing compacts: a warning. Runs the real binary in a user and mount
// namespace of its own, so it needs no privileges.
func TestDoctorNodeReadOnlyDataDir(t *testing.T) {
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	if err := os.MkdirAll(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	manifest := etcdManifest(t, dir, ro, nil)
	api := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\nspec:\n  containers:\n  - name: kube-apiserver\n    command: [kube-apiserver, --etcd-compaction-interval=0]\n"
	if err := os.WriteFile(filepath.Join(dir, "kube-apiserver.yaml"), []byte(api), 0o600); err != nil {
		t.Fatal(err)
	}
	script := `mount -t tmpfs -o ro,size=1m tmpfs "$1" && shift && exec "$@"`
	cmd := exec.Command("unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh", ro,
		playgroundtest.Binary(t), "doctor", "--node", "--manifest", manifest, "-o", "json")
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
		t.Logf("stderr: %s", ee.Stderr)
	} else if err != nil {
		t.Fatal(err)
	}
	r := nodeReport(t, clitest.Result{Stdout: string(out)})
	fs := find(r, "node.fdatasync")
	if len(fs) != 1 || fs[0].Severity != health.Unknown || !strings.Contains(fs[0].Observed, "read-only file system") {
		t.Errorf("fdatasync on a read-only data dir: %+v", fs)
	}
	if fs := find(r, "node.certExpiry"); len(fs) != 1 || fs[0].Severity != health.Unknown {
		t.Errorf("no certificates named: %+v, want one unknown", fs)
	}
	if fs := find(r, "node.autoCompaction"); len(fs) != 1 || fs[0].Severity != health.Warn {
		t.Errorf("no compaction anywhere: %+v, want a warning", fs)
	}
	if fs := find(r, "node.freeSpace"); len(fs) != 1 {
		t.Errorf("free space not checked: %+v", fs)
	}
	if code != 1 {
		t.Errorf("exit %d, want 1 (worst is the compaction warning)", code)
	}
}

// Flag errors without a cluster: a manifest that is not there, a
// metrics file in a directory that does not exist.
func TestDoctorNodeBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"doctor", "--node", "--manifest", "/nonexistent/etcd.yaml"},
		{"doctor", "--node", "--metrics-file", "/nonexistent/dir/x.prom"},
	} {
		res := clitest.Run(t, nil, args...)
		if res.Code != 64 || strings.Count(strings.TrimSpace(res.Stderr), "\n") > 1 {
			t.Errorf("%v: exit %d, stderr %q; want 64 and one line (plus the usage hint)", args, res.Code, res.Stderr)
		}
	}
}

// apiServerManifest writes kube-apiserver's static pod beside etcd's, with
// the given flags.
func apiServerManifest(t *testing.T, dir string, flags ...string) {
	t.Helper()
	api := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\nspec:\n  containers:\n  - name: kube-apiserver\n    command: [" + strings.Join(append([]string{"kube-apiserver"}, flags...), ", ") + "]\n"
	if err := os.WriteFile(filepath.Join(dir, "kube-apiserver.yaml"), []byte(api), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A real member taking writes: with compaction off on both sides the
// growth rate seen makes the finding fail (the quota is reached at that
// rate, and the advice names both flags); kube-apiserver's default 5 m
// interval keeps a few minutes of history, well inside the quota.
func TestDoctorNodeCompactionAgainstRevisionGrowth(t *testing.T) {
	pg := playgroundtest.Start(t, playground.Options{Members: 1})
	cli := playgroundtest.Client(t, pg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		// About 100 writes a second, a busy cluster's Events: at 1000/s
		// even the apiserver's 5 minutes keep 40 % of the quota.
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ctx.Err() == nil; i++ {
			<-tick.C
			wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
			_, _ = cli.Put(wctx, fmt.Sprintf("/registry/events/default/e%d", i%500), strings.Repeat("x", 1024))
			wcancel()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })

	dir := t.TempDir()
	manifest := etcdManifest(t, dir, pg.Member(0).DataDir(), nil)
	compaction := func(flags ...string) (health.Finding, int) {
		t.Helper()
		apiServerManifest(t, dir, flags...)
		res := clitest.Run(t, nil, "doctor", "--node", "--manifest", manifest, "--endpoints", pg.Endpoints()[0], "--window", "3s", "-o", "json")
		fs := find(nodeReport(t, res), "node.autoCompaction")
		if len(fs) != 1 {
			t.Fatalf("want one compaction finding, got %+v", fs)
		}
		t.Logf("%s: %s (%s)", fs[0].Severity, fs[0].Observed, fs[0].Short)
		return fs[0], res.Code
	}
	f, code := compaction("--etcd-compaction-interval=0")
	var rate float64
	if i := strings.Index(f.Observed, " rev/s"); i > 0 {
		fmt.Sscan(f.Observed[strings.LastIndex(f.Observed[:i], " ")+1:i], &rate)
	}
	if (f.Severity != health.Warn && f.Severity != health.Crit) || code < 1 || rate <= 0 {
		t.Errorf("compaction off on both sides while %.1f rev/s are written: %s (exit %d) %q; want warn or crit and the rate", rate, f.Severity, code, f.Observed)
	}
	if !strings.Contains(f.Advice, "--etcd-compaction-interval=5m") || !strings.Contains(f.Advice, "--auto-compaction-retention=") || !strings.Contains(f.Advice, manifest) {
		t.Errorf("advice %q: want both flags and the manifest to set them in", f.Advice)
	}
	f, _ = compaction()
	if f.Severity != health.OK || !strings.Contains(f.Observed, "apiserver every 5m0s (default) keeps up to") {
		t.Errorf("kube-apiserver's default interval: %s %q; want ok with the history it keeps", f.Severity, f.Observed)
	}
}

// A manifest that discovery finds but cannot read: the checks that need it
// are unknown with the reason, the others run; not a usage error.
func TestDoctorNodeUnreadableManifest(t *testing.T) {
	root := t.TempDir()
	manifests := filepath.Join(root, "etc", "kubernetes", "manifests")
	if err := os.MkdirAll(manifests, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(manifests, "etcd.yaml"), []byte("kind: ConfigMap\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := clitest.Run(t, playgroundtest.Env(cluster.RootEnv, root), "doctor", "--node", "--data-dir", t.TempDir(), "--window", "100ms", "-o", "json")
	r := nodeReport(t, res)
	for _, id := range []string{"node.autoCompaction", "node.certExpiry"} {
		if fs := find(r, id); len(fs) != 1 || fs[0].Severity != health.Unknown || !strings.Contains(fs[0].Observed, "not a Pod manifest") {
			t.Errorf("%s: %+v; want unknown naming what is wrong with the manifest", id, fs)
		}
	}
	if fs := find(r, "node.fdatasync"); len(fs) != 1 || fs[0].Severity == health.Unknown {
		t.Errorf("the data dir given was not probed: %+v", fs)
	}
	if res.Code == 64 || res.Code == 0 {
		t.Errorf("exit %d: want the findings' outcome, not a usage error", res.Code)
	}
}
