package status_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// BenchmarkStatus measures `etcdmedic status -o json` against a seeded
// 3-member cluster, side by side with the reference tool in the same run:
//
//	inprocess: the command alone (connect, member list, parallel Status +
//	           /metrics scrape, render), as the tests run it;
//	binary:    the etcdmedic binary as a user runs it (process start included);
//	etcdctl:   `etcdctl endpoint status --cluster -w json` from the etcd 3.7
//	           release, which does less (no /metrics) — the floor to compare with.
//
// go test ./commands/status -run XXX -bench Status -benchtime 30x
func BenchmarkStatus(b *testing.B) {
	c := playgroundtest.Start(b, playground.Options{Members: 3})
	playgroundtest.Seed(b, c, playground.DefaultSeed())
	eps := endpoints(c)

	b.Run("inprocess", func(b *testing.B) {
		args := []string{"status", "-o", "json", "--endpoints", eps}
		for i := 0; i < b.N; i++ {
			ios, _, _ := iostreams.Test()
			if code := commands.Execute(context.Background(), args, ios, playgroundtest.Env()); code != 0 {
				b.Fatalf("exit %d", code)
			}
		}
	})

	bin := filepath.Join(b.TempDir(), "etcdmedic")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/etcdmedic").CombinedOutput(); err != nil {
		b.Fatalf("build etcdmedic: %v\n%s", err, out)
	}
	run := func(b *testing.B, name string, args ...string) {
		for i := 0; i < b.N; i++ {
			out, err := exec.Command(name, args...).CombinedOutput()
			if err != nil {
				b.Fatalf("%s: %v\n%s", name, err, out)
			}
		}
	}
	b.Run("binary", func(b *testing.B) { run(b, bin, "status", "-o", "json", "--endpoints", eps) })

	var etcdctl string
	for v, rb := range playgroundtest.ReleaseBinaries(b) {
		if strings.HasPrefix(v, "v3.7.") {
			etcdctl = rb.Etcdctl
		}
	}
	b.Run("etcdctl", func(b *testing.B) {
		run(b, etcdctl, "endpoint", "status", "--cluster", "-w", "json", "--endpoints", eps)
	})
}
