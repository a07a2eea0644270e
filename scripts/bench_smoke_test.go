// Package scripts_test keeps the benchmark scripts working: every
// scripts/bench-*.sh runs once with tiny sizes (no timing asserted) and must
// exit 0 and print its columns. A benchmark that only runs when someone
// remembers to run it rots; this is the part of it that runs with the suite.
//
// What a bench script needs for its smoke run: it honours BENCH_LOCK=0 (no
// shared lock: a smoke run must not wait for somebody's long benchmark),
// ETCDMEDIC_BIN (the etcdmedic to measure, built once here instead of once
// per script; scripts/benchlib.sh's bench_etcdmedic does both) and the size
// knobs listed in smokeRuns below, and it prints the columns listed there.
// A new bench-*.sh without an entry fails TestEveryBenchScriptHasASmokeRun.
package scripts_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// benchlibColumns is what scripts/benchlib.sh prints for every contender:
// the summary's header, etcd's own CPU, both kinds of RSS, the load.
var benchlibColumns = []string{"medians (min–max)", "wall ", "etcd cpu ", "rss anon ", "file ", "max ", "load "}

type smokeRun struct {
	env  []string // tiny sizes
	want []string // in the output
	// timeout bounds the run (default 20 minutes; a script builds what it
	// needs and is missing, which on a cold machine takes minutes).
	timeout time.Duration
}

var smokeRuns = map[string]smokeRun{
	"bench-startup.sh": {
		env: []string{"BENCH_ROUNDS=1"},
		want: append(slices.Clone(benchlibColumns), "etcdmedic-status", "etcdctl-status", "control-status",
			"etcdmedic-version", "package init", "target <= 1.30x", "target <= 1.50x"),
	},
	"bench-defrag.sh": {
		env:  []string{"BENCH_DEFRAG_DB_MB=24", "BENCH_DEFRAG_ROUNDS=1", "BENCH_DEFRAG_CONTROL=0", "BENCH_DEFRAG_RATE=20"},
		want: []string{"wall/sum of defrags", "etcd cpu", "rss anon", "file", "load", "== etcdctl", "== etcdmedic"},
	},
	"bench-inventory.sh": {
		env:  []string{"BENCH_SIZES=3000", "BENCH_ROUNDS=1"},
		want: append(slices.Clone(benchlibColumns), "inventory-keys-only", "etcdctl-keys-only", "control-keys-only"),
	},
	"bench-purge.sh": {
		env:  []string{"BENCH_PURGE_PODS=3000"},
		want: []string{"ours", "load"},
	},
	"bench-snapshot.sh": {
		env:  []string{"BENCH_SNAPSHOT_MB=24", "BENCH_SNAPSHOT_ROUNDS=1"},
		want: []string{"etcd cpu", "anon ", "file ", "load", "throughput ratio", "time ratio", "vs the slower of status and sha256"},
	},
	"bench-offsite.sh": {
		// The long-tail layout: its seeding is the script's branch with
		// more to go wrong than the default's etcdctl puts.
		env:     []string{"BENCH_OFFSITE_MB=24", "BENCH_OFFSITE_ROUNDS=1", "BENCH_OFFSITE_LAYOUT=longtail"},
		want:    []string{"(layout longtail)", "peak RSS of save --to s3://", "throughput ratio", "s3/by-hand", "drill", "curl GET of the object", "load average"},
		timeout: 60 * time.Minute, // the first run builds MinIO
	},
	"bench-member.sh": {
		env:  []string{"BENCH_MEMBER_DB_MB=16", "CATCHUP_COUNT=1", "REPLACE_COUNT=1"},
		want: []string{"catch-up:", "catch-up across a raft snapshot:", "replace all three:"},
	},
	"bench-breakglass.sh": {
		env:  []string{"BENCH_SURVIVORS_MB=16", "BENCH_DEFRAG_OFFLINE_MB=16", "BENCH_SURVIVORS_ROUNDS=1", "BENCH_DEFRAG_OFFLINE_ROUNDS=1", "BENCH_ASSERT=0"},
		want: []string{"load average"},
	},
	"bench-node-fsync.sh": {
		env:  []string{"BENCH_ASSERT=0"},
		want: []string{"p99", "side by side: mean p99 ratio"},
	},
}

func benchScripts(t *testing.T) []string {
	t.Helper()
	scripts, err := filepath.Glob("bench-*.sh")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts/bench-*.sh: %v", err)
	}
	return scripts
}

func TestEveryBenchScriptHasASmokeRun(t *testing.T) {
	for _, s := range benchScripts(t) {
		if _, ok := smokeRuns[s]; !ok {
			t.Errorf("scripts/%s has no smoke run: add its tiny sizes and columns to smokeRuns", s)
		}
	}
}

// TestBenchScriptsSmoke runs each bench script present once, tiny.
func TestBenchScriptsSmoke(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "etcdmedic")
	build := exec.Command("go", "build", "-o", bin, "./cmd/etcdmedic")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, script := range benchScripts(t) {
		run, ok := smokeRuns[script]
		if !ok {
			continue // TestEveryBenchScriptHasASmokeRun says so
		}
		t.Run(strings.TrimSuffix(script, ".sh"), func(t *testing.T) {
			timeout := run.timeout
			if timeout == 0 {
				timeout = 20 * time.Minute
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", script))
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "BENCH_LOCK=0", "ETCDMEDIC_BIN="+bin)
			cmd.Env = append(cmd.Env, run.env...)
			cmd.WaitDelay = 10 * time.Second // a script's children holding the pipe after a kill
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("scripts/%s (%s): %v after %s\n%s", script, strings.Join(run.env, " "), err, time.Since(start).Round(time.Second), out)
			}
			for _, w := range run.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("scripts/%s printed no %q:\n%s", script, w, out)
				}
			}
			t.Logf("scripts/%s: %s", script, time.Since(start).Round(time.Second))
		})
	}
}
