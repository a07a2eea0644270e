package breakglass_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// A run holding the node's change lock (here flock(1) in a process of its
// own, as another etcdmedic would) makes a second changing run refuse at once
// (exit 4) with nothing moved; once the holder is SIGKILLed the kernel drops
// the lock and the same command goes through.
func TestChangingRunsRefuseWhileAnotherHoldsTheNode(t *testing.T) {
	root := fixtureRoot(t)
	lock := filepath.Join(root, "etc/kubernetes/manifests")
	// flock(1) and its sleep share the lock's open file: both die together.
	holder := exec.Command("flock", lock, "sleep", "300")
	holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	kill := func() { _ = syscall.Kill(-holder.Process.Pid, syscall.SIGKILL); _ = holder.Wait() }
	t.Cleanup(kill)
	waitHeld(t, lock)
	before := snapshotFiles(t, root)

	for _, args := range [][]string{
		{"breakglass", "etcd-only", "--root", root, "--yes"},
		{"breakglass", "probes", "--root", root, "--relax", "--yes", "--expected-start", "10m"},
	} {
		r := clitest.Run(t, noEtcd, args...)
		if r.Code != 4 || !strings.Contains(r.Stderr, "another etcdmedic breakglass run (pid ") || !strings.Contains(r.Stderr, "flock") || !strings.Contains(r.Stderr, "var/lib/etcdmedic/breakglass/journal.jsonl") || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
			t.Fatalf("%v while locked: exit %d, stderr %q; want 4 and one line naming the lock", args[1], r.Code, r.Stderr)
		}
	}
	if !same(before, snapshotFiles(t, root)) {
		t.Fatal("a refused run changed files")
	}
	// A dry run reads only: it is not refused.
	if r := clitest.Run(t, noEtcd, "breakglass", "etcd-only", "--root", root, "--dry-run"); r.Code != 0 {
		t.Fatalf("dry run while locked: exit %d %s", r.Code, r.Stderr)
	}

	kill()
	waitFree(t, lock)
	if r := clitest.Run(t, noEtcd, "breakglass", "etcd-only", "--root", root, "--yes"); r.Code != 0 || !strings.Contains(r.Stdout, "moved") {
		t.Fatalf("after the holder died: exit %d %s %s", r.Code, r.Stdout, r.Stderr)
	}
}

// Two real etcdmedic processes run etcd-only on one node at the same moment,
// round after round: every manifest is moved exactly once (three quarantine
// entries in the journal, no failed move), the loser is refused or finds
// nothing to do, and undo gives the directory back byte-identical.
func TestTwoEtcdOnlyRunsAtOnceMoveEachManifestOnce(t *testing.T) {
	bin := playgroundtest.Binary(t)
	for round := 0; round < 6; round++ {
		root := fixtureRoot(t)
		before := snapshotFiles(t, root)
		cmds := make([]*exec.Cmd, 2)
		outs := make([]*bytes.Buffer, 2)
		for i := range cmds {
			outs[i] = &bytes.Buffer{}
			cmds[i] = exec.Command(bin, "breakglass", "etcd-only", "--root", root, "--yes", "--endpoints", "http://127.0.0.1:1")
			cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
		}
		for _, c := range cmds {
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range cmds {
			err := c.Wait()
			code := c.ProcessState.ExitCode()
			out := outs[i].String()
			switch {
			case code == 0:
			case code == 4 && strings.Contains(out, "is changing this node"):
			default:
				t.Fatalf("round %d run %d: exit %d (%v)\n%s", round, i, code, err, out)
			}
		}
		journal, err := os.ReadFile(filepath.Join(root, "var/lib/etcdmedic/breakglass/journal.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(journal), `"action":"quarantine"`); n != 3 || strings.Contains(string(journal), `"result":"failed"`) {
			t.Fatalf("round %d: %d quarantine entries, want 3 and none failed:\n%s", round, n, journal)
		}
		if r := clitest.Run(t, noEtcd, "breakglass", "undo", "--root", root, "--yes"); r.Code != 0 {
			t.Fatalf("round %d undo: exit %d %s", round, r.Code, r.Stderr)
		}
		after := snapshotFiles(t, root)
		for p, v := range before {
			if after[p] != v {
				t.Fatalf("round %d: %s not restored byte-identical", round, p)
			}
		}
	}
}

func waitHeld(t *testing.T, lock string) { t.Helper(); waitLock(t, lock, true) }

// waitFree: the holder's SIGKILL reaches flock and its sleep
// asynchronously; Wait reaps flock, while the sleep, which shares the
// lock's open file, may not have died yet.
func waitFree(t *testing.T, lock string) { t.Helper(); waitLock(t, lock, false) }

func waitLock(t *testing.T, lock string, held bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		probe := exec.Command("flock", "-n", lock, "true")
		if (probe.Run() != nil) == held {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lock on %s: held=%v after 30 s, want held=%v", lock, !held, held)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
