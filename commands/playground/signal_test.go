package playground_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// buildBinary is the etcdmedic command, built once for these tests.
func buildBinary(t *testing.T) string { return playgroundtest.Binary(t) }

// lines streams r line by line; the channel closes at EOF or error.
func lines(r io.Reader) <-chan string {
	ch := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
		close(ch)
	}()
	return ch
}

// waitLine reads until a line contains want and returns it; on the way it
// notes the playground's data directory.
func waitLine(t *testing.T, ch <-chan string, want string, dataDir *string) string {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-ch:
			if !ok {
				t.Fatalf("output ended before a line with %q", want)
			}
			if i := strings.Index(l, "(data in "); i >= 0 && dataDir != nil {
				*dataDir = strings.TrimSuffix(l[i+len("(data in "):], ")")
			}
			if strings.Contains(l, want) {
				return l
			}
		case <-deadline:
			t.Fatalf("no line with %q within 2 minutes", want)
		}
	}
}

// waitExit waits for the playground to exit by itself and wants exit 0.
func waitExit(t *testing.T, cmd *exec.Cmd, after string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("playground ended with %v after %s, want exit 0", err, after)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("playground did not stop within 60 s of %s", after)
	}
}

// waitGone polls until no member process is left and the data dir is removed.
func waitGone(t *testing.T, pids []int, dataDir string) {
	t.Helper()
	if dataDir == "" {
		t.Fatal("playground did not say where its data is")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var alive []int
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil && !isZombie(pid) {
				alive = append(alive, pid)
			}
		}
		_, statErr := os.Stat(dataDir)
		if len(alive) == 0 && os.IsNotExist(statErr) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after the playground exited: member processes %v alive, data dir %s: %v", alive, dataDir, statErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isZombie(pid int) bool {
	f := procStat(pid)
	return len(f) > 0 && f[0] == "Z"
}

// The playground runs until SIGTERM (or Ctrl-C), then stops every member
// process and removes its temporary data.
func TestPlaygroundStopsCleanlyOnSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	cmd := exec.Command(bin, "playground", "--base-port", "0", "--tls")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	var dataDir string
	errLines := lines(stderr)
	waitLine(t, errLines, "press Ctrl-C to stop", &dataDir)
	go func() {
		for range errLines {
		}
	}()
	out := bufio.NewScanner(stdout)
	var exports []string
	for out.Scan() {
		if strings.HasPrefix(out.Text(), "export ") {
			exports = append(exports, out.Text())
		}
		if len(exports) == 4 {
			break
		}
	}
	if len(exports) != 4 || !strings.HasPrefix(exports[1], "export ETCDCTL_CACERT=") {
		t.Fatalf("a --tls playground prints the endpoints and certificate exports; got %q", exports)
	}
	go io.Copy(io.Discard, stdout)
	children := childPIDs(t, cmd.Process.Pid)
	if len(children) != 3 {
		t.Fatalf("%d member processes, want 3", len(children))
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd, "SIGTERM")
	waitGone(t, children, dataDir)
}

// With its output piped, as in `etcdmedic playground 2>&1 | tee log`: ps
// shows each member under its name and the data dir; a member killed from
// outside is reported with its pid, signal and log; and Ctrl-C, which kills
// the reader of the pipe too, still stops every member and removes the data.
func TestPlaygroundPipedOutput(t *testing.T) {
	bin := buildBinary(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "playground", "--base-port", "0")
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	defer cmd.Process.Kill()
	var dataDir string
	out := lines(r)
	waitLine(t, out, "press Ctrl-C to stop", &dataDir)

	children := childPIDs(t, cmd.Process.Pid)
	byName := map[string]int{}
	for _, pid := range children {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			t.Fatal(err)
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) < 3 || filepath.Base(args[0]) != "etcdmedic" || args[1] != "playground-member" || !strings.Contains(string(b), dataDir) {
			t.Fatalf("member %d runs as %q: ps should show etcdmedic playground-member <name> and the data dir %s", pid, args, dataDir)
		}
		byName[args[2]] = pid
	}
	if len(byName) != 3 || byName["m1"] == 0 || byName["m2"] == 0 || byName["m3"] == 0 {
		t.Fatalf("member processes by name: %v, want m1, m2 and m3", byName)
	}

	victim := byName["m2"]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("member m2 (pid %d) exited unexpectedly: signal: killed; log: %s", victim, filepath.Join(dataDir, "m2", "etcd.log"))
	if got := waitLine(t, out, "exited unexpectedly", nil); got != want {
		t.Fatalf("report %q, want %q", got, want)
	}

	// Ctrl-C reaches the whole foreground job: the reader goes first.
	r.Close()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd, "SIGINT with its output gone")
	waitGone(t, children, dataDir)
}

// childPIDs lists the direct children of pid from /proc.
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := procStat(n); len(f) > 1 {
			if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
				out = append(out, n)
			}
		}
	}
	return out
}

// procStat is /proc/<pid>/stat after the command name: state, ppid, ...
// (the name may hold spaces, so the split is after the last ')').
func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
}
