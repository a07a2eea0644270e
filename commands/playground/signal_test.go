package playground_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The playground runs until SIGTERM (or Ctrl-C), then stops every member
// process and removes its temporary data.
func TestPlaygroundStopsCleanlyOnSIGTERM(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "etcdmedic")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/etcdmedic").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
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

	// Read stderr until the playground says it runs; note its data directory.
	var dataDir string
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(2 * time.Minute)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("playground exited before running")
			}
			if i := strings.Index(l, "(data in "); i >= 0 {
				dataDir = strings.TrimSuffix(l[i+len("(data in "):], ")")
			}
			if strings.Contains(l, "press Ctrl-C to stop") {
				break wait
			}
		case <-deadline:
			t.Fatal("playground did not start within 2 minutes")
		}
	}
	go func() {
		for range lines {
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
	children := childPIDs(t, cmd.Process.Pid)
	if len(children) != 3 {
		t.Fatalf("%d member processes, want 3", len(children))
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("playground exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("playground did not stop within 30 s of SIGTERM")
	}
	for _, pid := range children {
		if syscall.Kill(pid, 0) == nil {
			t.Fatalf("member process %d still alive", pid)
		}
	}
	if dataDir == "" {
		t.Fatal("playground did not say where its data is")
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Fatalf("temporary data dir %s left behind (%v)", dataDir, err)
	}
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
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) > 1 {
			if ppid, _ := strconv.Atoi(fields[1]); ppid == pid {
				out = append(out, n)
			}
		}
	}
	return out
}
