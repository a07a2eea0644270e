package status_test

import (
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// With a member SIGSTOPped, status names it and ends with the doctor command
// to run next, carrying this run's connection flags and thresholds; that
// command, pasted as printed, reaches the same cluster, judges it with the
// same thresholds and names the hung member within its documented bound.
func TestStatusNextStepIsDoctorWithTheFlagsInEffect(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	hung := playgroundtest.PauseFollower(t, c)
	res := clitest.Run(t, nil, "status", "--endpoints", endpoints(c), "--command-timeout", "2s", "--set", "fsync.warn=20ms")
	if res.Code != 1 || !strings.Contains(res.Stdout, "! "+hung.Name+": ") {
		t.Fatalf("exit %d, want 1 and a note naming %s", res.Code, hung.Name)
	}
	_, after, ok := strings.Cut(res.Stdout, "→ every finding and the command that fixes it:\n")
	if !ok {
		t.Fatal("no next step printed for a degraded cluster")
	}
	line := strings.TrimSpace(strings.SplitN(strings.ReplaceAll(after, " \\\n", " "), "\n", 2)[0])
	for _, want := range []string{"etcdmedic doctor ", "--endpoints " + endpoints(c), "--command-timeout 2s", "--set fsync.warn=20ms"} {
		if !strings.Contains(line, want) {
			t.Fatalf("next step %q lacks %q", line, want)
		}
	}
	words := clitest.ShellWords(t, line)
	doc := clitest.Run(t, nil, append(words, "--window", "1s")...)
	// doctor's own bound: the longer of --command-timeout (2 s) and
	// --window (1 s), plus a second.
	if doc.Took > 3*time.Second {
		t.Fatalf("the advised doctor took %s with a member hung", doc.Took)
	}
	if doc.Code != 1 || !strings.Contains(doc.Stdout, "status.reachable") || !strings.Contains(doc.Stdout, hung.Name) {
		t.Fatalf("the advised doctor: exit %d, want 1 naming %s unreachable", doc.Code, hung.Name)
	}
}
