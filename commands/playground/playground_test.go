package playground_test

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestMain(m *testing.M) {
	playground.RunMemberIfRequested()
	code := m.Run()
	playgroundtest.RemoveBinary()
	os.Exit(code)
}

// The README's first command: the demo starts a real cluster, seeds and
// fragments it, shows status, and stops.
//
// The user's own ETCDCTL_* settings never reach the demo's commands: they
// run against the playground, as after its export line.
func TestDemo(t *testing.T) {
	getenv := playgroundtest.Env("ETCDCTL_ENDPOINTS", "http://127.0.0.1:1", "ETCDCTL_USER", "nobody:secret")
	res := clitest.Run(t, getenv, "playground", "--demo", "--base-port", "0")
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	for _, want := range []string{"export ETCDCTL_ENDPOINTS=http://127.0.0.1:", "$ etcdmedic status", "3 of 3 voters answer",
		"$ etcdmedic doctor", "space.fragmentation", "$ etcdmedic defrag", "leaderMove", "3 defragmented", "What to try next"} {
		if !strings.Contains(res.Stdout, want) {
			t.Fatalf("demo output lacks %q", want)
		}
	}
	if !strings.Contains(res.Stderr, "seeded ") || !strings.Contains(res.Stderr, "fragmented: deleted") {
		t.Fatalf("demo did not seed and fragment:\n%s", res.Stderr)
	}
	// Fragmentation shows in the first status table: every member reports free pages.
	rows := 0
	first := res.Stdout[:strings.Index(res.Stdout, "$ etcdmedic doctor")]
	for _, line := range strings.Split(first, "\n") {
		// Any verdict: on a loaded machine commit latency alone can make a member "degraded".
		if strings.HasPrefix(line, "m") && strings.Contains(line, " 3.7.3 ") {
			rows++
			if strings.Contains(line, " 0.0% ") {
				t.Fatalf("no fragmentation after --fragment: %s", line)
			}
		}
	}
	if rows != 3 {
		t.Fatalf("%d member rows, want 3", rows)
	}
}

func TestPlaygroundBadFlags(t *testing.T) {
	if res := clitest.Run(t, nil, "playground", "--members", "0"); res.Code != 64 {
		t.Fatalf("--members 0: exit %d, want 64", res.Code)
	}
}

// A --base-port whose ports are taken (a playground already running) is a
// one-line usage error naming the port, and nothing is created.
func TestPlaygroundPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	res := clitest.Run(t, nil, "playground", "--base-port", strconv.Itoa(port))
	var errLines []string
	for _, line := range strings.Split(res.Stderr, "\n") {
		if strings.HasPrefix(line, "Error: ") {
			errLines = append(errLines, line)
		}
	}
	if res.Code != 64 || len(errLines) != 1 || !strings.Contains(errLines[0], "port "+strconv.Itoa(port)+" is taken") || !strings.Contains(errLines[0], "--base-port 0") {
		t.Fatalf("taken --base-port %d: exit %d, stderr:\n%s", port, res.Code, res.Stderr)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("a refused playground left %v in TMPDIR", left)
	}
}
