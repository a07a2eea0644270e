// Package clitest runs etcdmedic commands in-process, as a user would type
// them, and captures what they print and the exit code. Use it from external
// test packages (package foo_test).
package clitest

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
)

type Result struct {
	Code   int
	Stdout string
	Stderr string
	Took   time.Duration
}

// Run executes `etcdmedic args...` with only the given environment (a
// getenv function; nil means empty) and buffers for output.
func Run(t testing.TB, getenv func(string) string, args ...string) Result {
	t.Helper()
	return RunContext(context.Background(), t, getenv, args...)
}

func RunContext(ctx context.Context, t testing.TB, getenv func(string) string, args ...string) Result {
	t.Helper()
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	ios, out, errOut := iostreams.Test()
	start := time.Now()
	code := commands.Execute(ctx, args, ios, getenv)
	r := Result{Code: code, Stdout: out.String(), Stderr: errOut.String(), Took: time.Since(start)}
	t.Logf("etcdmedic %s -> exit %d in %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Took.Round(time.Millisecond), r.Stdout, r.Stderr)
	return r
}

// ShellWords are the arguments etcdmedic gets when a shell runs line (a
// next step as printed, quotes and backslash-newlines included), without
// running it: a test then runs exactly what a person would paste.
func ShellWords(t testing.TB, line string) []string {
	t.Helper()
	out, err := exec.Command("sh", "-c", `etcdmedic() { printf '%s\0' "$@"; }; `+line).Output()
	if err != nil {
		t.Fatalf("sh cannot run %q: %v", line, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
}
