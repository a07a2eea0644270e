package breakglass

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// killStep is one manifest-editing command run as the built etcdmedic.
type killStep struct {
	name string
	args []string // ROOT is replaced by the fixture root
}

// manifestFiles is every file the kubelet would load from the manifest dir
// (it skips dot files, which is where atomic writes keep their temp files),
// by name, with its bytes.
func manifestFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(data)
	}
	return out
}

// killRoot is a kubeadm fixture root holding a stopped member's data dir.
func killRoot(t *testing.T, dataDir string) (root, manifests string) {
	t.Helper()
	root, manifests = fixtureRoot(t)
	dst := filepath.Join(root, "var/lib/etcd")
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(copyDir(t, dataDir), dst); err != nil {
		t.Fatal(err)
	}
	return root, manifests
}

func runBin(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func withRoot(args []string, root string) []string {
	out := append([]string(nil), args...)
	for i, a := range out {
		if a == "ROOT" {
			out[i] = root
		}
	}
	return out
}

// A SIGKILL at any moment of a manifest-editing step leaves every manifest
// either exactly as it was or exactly as the finished step writes it (never
// half-written, never a stray file the kubelet would load), and undo then
// puts every manifest back byte-identical. Each step runs once to the end
// (its outcome and duration), then kills land spread over 0–1.5× that
// duration, each on a fresh fixture root (and later, when none of them
// landed after the edit).
func TestManifestStepsSurviveSIGKILL(t *testing.T) {
	bin := playgroundtest.Binary(t)
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	put(t, playgroundtest.Client(t, c), "/k", 20)
	if err := c.Member(0).Stop(); err != nil {
		t.Fatal(err)
	}
	dataDir := c.Member(0).DataDir()
	steps := []killStep{
		{"force-new-cluster offline", []string{"breakglass", "force-new-cluster", "--root", "ROOT", "--yes"}},
		{"probes --relax", []string{"breakglass", "probes", "--root", "ROOT", "--expected-start", "10m", "--relax", "--yes"}},
		{"etcd-only", []string{"breakglass", "etcd-only", "--root", "ROOT", "--yes"}},
	}
	kills := envInt("KILL_TEST_KILLS", 30)
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			root, manifests := killRoot(t, dataDir)
			orig := manifestFiles(t, manifests)
			t0 := time.Now()
			out, code := runBin(t, bin, withRoot(s.args, root)...)
			took := time.Since(t0)
			if code != 0 {
				t.Fatalf("%s: exit %d\n%s", s.name, code, out)
			}
			done := manifestFiles(t, manifests)
			changed := 0
			for name := range orig {
				if done[name] != orig[name] {
					changed++
				}
			}
			if changed == 0 {
				t.Fatalf("%s changed no manifest", s.name)
			}
			var outcomes [3]int // as before, as after, mixed
			// killAt runs the step on a fresh root and SIGKILLs it delay
			// after it starts, or, atChange, delay after it starts changing
			// things (a kept original, the journal or the quarantine
			// appears: where the journal append, the temp file and the
			// rename happen). It checks what the kill left and that undo
			// puts it back, and returns the outcome's index.
			killAt := func(i int, delay time.Duration, atChange bool) int {
				root, manifests := killRoot(t, dataDir)
				cmd := exec.Command(bin, withRoot(s.args, root)...)
				cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
				var buf bytes.Buffer
				cmd.Stdout, cmd.Stderr = &buf, &buf
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t1 := time.Now()
				if atChange {
					waitChanging(root, 10*time.Second)
				}
				time.Sleep(delay) // the moment of the kill is what is varied, not a wait for a condition
				killed := cmd.Process.Signal(syscall.SIGKILL) == nil
				delay = time.Since(t1)
				werr := cmd.Wait()
				if !killed || werr == nil {
					// It finished first: it must have finished well.
					if werr != nil {
						t.Fatalf("kill %d: %s failed on its own: %v\n%s", i, s.name, werr, buf.String())
					}
				}
				now := manifestFiles(t, manifests)
				before, after := true, true
				for name := range orig {
					got, present := now[name]
					want, wantPresent := done[name]
					isOrig := present && got == orig[name]
					isNew := present == wantPresent && got == want
					if !isOrig && !isNew {
						t.Fatalf("kill %d after %s: %s is neither the original nor the new one (present %v, %d bytes)", i, delay, name, present, len(got))
					}
					before = before && isOrig
					after = after && isNew
				}
				for name := range now {
					if _, ok := orig[name]; !ok {
						t.Fatalf("kill %d after %s: %s appeared in the manifest dir", i, delay, name)
					}
				}
				outcome := 2
				switch {
				case before:
					outcome = 0
				case after:
					outcome = 1
				}
				out, code := runBin(t, bin, "breakglass", "undo", "--root", root, "--yes")
				if code != 0 {
					t.Fatalf("kill %d after %s: undo exit %d\n%s", i, delay, code, out)
				}
				back := manifestFiles(t, manifests)
				if len(back) != len(orig) {
					t.Fatalf("kill %d after %s: after undo %d manifests, want %d", i, delay, len(back), len(orig))
				}
				for name, data := range orig {
					if back[name] != data {
						t.Fatalf("kill %d after %s: undo did not put %s back byte-identical", i, delay, name)
					}
				}
				checkModes(t, manifests)
				return outcome
			}
			// Even kills: spread over 0–1.5× the run. Odd kills: 0–4 ms after
			// the step starts changing things.
			for i := 0; i < kills; i++ {
				if i%2 == 1 {
					outcomes[killAt(i, 4*time.Millisecond*time.Duration(i)/time.Duration(kills), true)]++
				} else {
					outcomes[killAt(i, time.Duration(float64(took)*1.5*float64(i)/float64(kills)), false)]++
				}
			}
			// On a loaded machine a killed run can start far slower than the
			// timed one, so every planned kill lands before the edit: kill
			// later (and, for the other side, at once) until both ends are
			// seen, as many times again at most.
			for extra := 1; extra <= kills && (outcomes[0] == 0 || outcomes[1] == 0); extra++ {
				if outcomes[1] == 0 {
					outcomes[killAt(kills+extra, took*time.Duration(1+extra), false)]++
				} else {
					outcomes[killAt(kills+extra, 0, false)]++
				}
			}
			t.Logf("%s (%s to the end): %d kills left every manifest as before, %d as after, %d part-way (some files moved, each whole)",
				s.name, took.Round(time.Millisecond), outcomes[0], outcomes[1], outcomes[2])
			if outcomes[0] == 0 || outcomes[1] == 0 {
				t.Errorf("the kills did not straddle the edit (%v): the test did not test it", outcomes)
			}
		})
	}
}

// waitChanging polls (tightly: the window is a few ms) until the step under
// root writes its first file outside the data dir, or limit passes.
func waitChanging(root string, limit time.Duration) {
	marks := []string{"var/lib/etcdmedic/breakglass/manifests", "var/lib/etcdmedic/breakglass/journal.jsonl", "etc/kubernetes/etcdmedic-disabled"}
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); {
		for _, m := range marks {
			if _, err := os.Stat(filepath.Join(root, m)); err == nil {
				return
			}
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// checkModes: undo keeps the fixture's modes (0600 for every manifest).
func checkModes(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") || filepath.Dir(p) != dir {
			return nil
		}
		if info, err := d.Info(); err == nil && info.Mode().Perm() != 0o600 {
			t.Fatalf("%s mode %v after undo, want 0600", p, info.Mode().Perm())
		}
		return nil
	})
}
