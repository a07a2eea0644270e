package snapshot_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// TestDrillLocalDirMetrics: a drill of a directory holding no snapshot yet
// fails (exit 2) with the reason and its time in the report, and its
// metrics file says so. Of a directory, the drill takes the newest
// verified snapshot and passes; the metrics file records the success. A
// flipped byte fails the next drill (exit 2), and the metrics keep the last
// success's time while saying the last drill failed.
func TestDrillLocalDirMetrics(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 80, ConfigMaps: 10})
	dir := t.TempDir()
	metrics := filepath.Join(t.TempDir(), "drill.prom")
	empty, _ := drill(t, 2, dir, "--metrics-file", metrics)
	if empty.Matched || len(empty.Problems) != 1 || !strings.Contains(empty.Problems[0], "holds no verified snapshot") || empty.Finished.IsZero() {
		t.Fatalf("drill of an empty directory: %+v; want the reason in problems and a finish time", empty)
	}
	if readMetric(t, metrics, "etcdmedic_snapshot_drill_success") != "0" {
		t.Fatalf("metrics after a drill of nothing:\n%s", mustRead(t, metrics))
	}
	out := save(t, env(c), dir, "--compress")
	dr, _ := drill(t, 0, dir, "--metrics-file", metrics)
	if !dr.Matched || dr.Revision != out.Save.Metadata.Revision || dr.TotalKeys != int64(out.Save.Metadata.TotalKeys) {
		t.Fatalf("drill: %+v, saved %+v", dr, out.Save.Metadata)
	}
	first := readMetric(t, metrics, "etcdmedic_snapshot_last_drill_success_timestamp_seconds")
	if first == "" || readMetric(t, metrics, "etcdmedic_snapshot_drill_success") != "1" {
		t.Fatalf("metrics after a good drill:\n%s", mustRead(t, metrics))
	}
	fi, _ := os.Stat(out.Save.Path)
	flip(t, out.Save.Path, fi.Size()/2)
	drill(t, 2, dir, "--metrics-file", metrics)
	if got := readMetric(t, metrics, "etcdmedic_snapshot_last_drill_success_timestamp_seconds"); got != first {
		t.Fatalf("last success after a failed drill: %q, want %q", got, first)
	}
	if readMetric(t, metrics, "etcdmedic_snapshot_drill_success") != "0" {
		t.Fatalf("metrics after a failed drill:\n%s", mustRead(t, metrics))
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readMetric(t *testing.T, p, name string) string {
	for _, l := range strings.Split(mustRead(t, p), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestDrillSlimBuild: the drill's member is a playground member, so a build
// without the etcd server (-tags slim) links none from snapshot (the embed
// package was the drill's) and drills with the etcd on PATH or
// --etcd-binary; without either it says so (exit 64). The full build's
// --etcd-binary runs that binary too.
func TestDrillSlimBuild(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "slim", "github.com/etcdmedic/etcdmedic/cmd/etcdmedic").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "go.etcd.io/etcd/server/v3/embed" {
			t.Fatal("the slim build links go.etcd.io/etcd/server/v3/embed")
		}
	}
	bin := filepath.Join(t.TempDir(), "etcdmedic")
	if out, err := exec.Command("go", "build", "-tags", "slim", "-o", bin, "github.com/etcdmedic/etcdmedic/cmd/etcdmedic").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags slim: %v\n%s", err, out)
	}
	bins := playgroundtest.ReleaseBinaries(t)
	etcd := bins[latest(bins, "v3.7")].Etcd

	c := playgroundtest.Start(t, playground.Options{Members: 1})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 50, ConfigMaps: 5})
	dir := t.TempDir()
	saved := save(t, env(c), dir)

	run := func(path string, args ...string) (int, string) {
		cmd := exec.Command(bin, append([]string{"snapshot", "drill", dir, "-o", "json", "--temp-dir", t.TempDir()}, args...)...)
		cmd.Env = append(os.Environ(), "PATH="+path)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, stdout.String() + stderr.String()
	}
	// The slim build restores with etcd's etcdutl and runs etcd's etcd.
	if code, out := run(t.TempDir()); code != 64 || !strings.Contains(out, "--etcdutl-binary") {
		t.Fatalf("slim drill without etcdutl: exit %d, want 64 naming --etcdutl-binary:\n%s", code, out)
	}
	utlOnly := t.TempDir()
	if err := os.Symlink(bins[latest(bins, "v3.7")].Etcdutl, filepath.Join(utlOnly, "etcdutl")); err != nil {
		t.Fatal(err)
	}
	if code, out := run(utlOnly); code != 64 || !strings.Contains(out, "--etcd-binary") {
		t.Fatalf("slim drill without etcd: exit %d, want 64 naming --etcd-binary:\n%s", code, out)
	}
	for _, args := range [][]string{{"--etcd-binary", etcd}, nil} {
		code, out := run(filepath.Dir(etcd)+":"+os.Getenv("PATH"), args...)
		if code != 0 || !strings.Contains(out, `"matched": true`) || !strings.Contains(out, fmt.Sprintf(`"revision": %d`, saved.Save.Metadata.Revision)) {
			t.Fatalf("slim drill %v: exit %d:\n%s", args, code, out)
		}
		// As restore does, the drill names the etcdutl that restored.
		if want := fmt.Sprintf(`"path": %q`, filepath.Join(filepath.Dir(etcd), "etcdutl")); !strings.Contains(out, `"etcdutl": {`) || !strings.Contains(out, want) {
			t.Fatalf("slim drill %v: no etcdutl %s in its output:\n%s", args, want, out)
		}
	}
	// The full build with --etcd-binary: that binary runs the member.
	dr, _ := drill(t, 0, dir, "--etcd-binary", etcd)
	if !dr.Matched || dr.Revision != saved.Save.Metadata.Revision {
		t.Fatalf("drill --etcd-binary: %+v", dr)
	}
	if r := clitest.Run(t, nil, "snapshot", "drill", dir, "--etcd-binary", filepath.Join(dir, "no-such-etcd")); r.Code != 64 {
		t.Fatalf("drill --etcd-binary missing: exit %d, want 64", r.Code)
	}
}
