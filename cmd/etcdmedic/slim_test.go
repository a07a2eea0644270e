package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

const memberRunner = "github.com/etcdmedic/etcdmedic/internal/etcdmember"

func deps(t *testing.T, args ...string) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", append(append([]string{"list", "-deps"}, args...), ".")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	m := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		m[p] = true
	}
	return m
}

// The slim build (-tags slim) leaves the in-process member runner, and the
// etcd server it links, out; its playground runs the etcd on PATH, and says
// what to do when there is none.
func TestSlimBuildRunsTheEtcdOnPath(t *testing.T) {
	if full := deps(t); !full[memberRunner] {
		t.Fatalf("the full build lacks %s: its playground could not run members", memberRunner)
	}
	if slim := deps(t, "-tags", "slim"); slim[memberRunner] {
		t.Fatalf("the slim build links %s", memberRunner)
	}
	bin := filepath.Join(t.TempDir(), "etcdmedic")
	if out, err := exec.Command("go", "build", "-tags", "slim", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags slim: %v\n%s", err, out)
	}

	empty := t.TempDir()
	cmd := exec.Command(bin, "playground", "--members", "1")
	cmd.Env = append(os.Environ(), "PATH="+empty)
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != 64 || !strings.Contains(string(out), "or on PATH; pass --etcd-binary") {
		t.Fatalf("slim playground without etcd: exit %d, output:\n%s", code, out)
	}

	rb, ok := playgroundtest.ReleaseBinaries(t)["v3.7.3"]
	if !ok {
		t.Fatal("no etcd v3.7.3 release binary: run scripts/build-etcd.sh")
	}
	cmd = exec.Command(bin, "playground", "--demo", "--base-port", "0")
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(rb.Etcd)+":"+os.Getenv("PATH"))
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "endpoints:") {
		t.Fatalf("slim playground --demo with etcd on PATH: %v\n%s", err, out)
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
