package etcdbin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Tool is a binary Find chose and the version it reports, for -v logs and
// JSON output.
type Tool struct {
	Path    string `json:"path"`
	Version string `json:"version,omitempty"`
}

// versionTimeout bounds `etcdutl version` / `etcd --version`: they print and exit.
const versionTimeout = 10 * time.Second

// Compiled on first use: a package-level regexp is compiled at start-up by
// every command, which this one is not.
var versionLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?im)^\s*(?:etcdutl|etcd) version:\s*v?(\S+)`) })

// Version runs `etcdutl version` (name "etcdutl") or `etcd --version`
// (name "etcd") and returns the version it prints ("3.7.3").
func Version(ctx context.Context, name, bin string) (string, error) {
	arg := "--version"
	if name == "etcdutl" {
		arg = "version"
	}
	ctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	out, err := command(ctx, bin, arg).Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", bin, arg, err)
	}
	m := versionLine().FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%s %s printed no version: %s", bin, arg, firstLine(out))
	}
	return string(m[1]), nil
}

// Describe is bin with its version, or without one when it prints none.
func Describe(ctx context.Context, name, bin string) Tool {
	v, _ := Version(ctx, name, bin)
	return Tool{Path: bin, Version: v}
}

// DescribeRun is the binary FindUnlessLinked chose, described; nil for ""
// (the linked code ran).
func DescribeRun(ctx context.Context, name, bin string) *Tool {
	if bin == "" {
		return nil
	}
	t := Describe(ctx, name, bin)
	return &t
}

// maxOutput is how much of a run's output is kept (its end: the error).
const maxOutput = 64 << 10

// Run runs bin with args, for at most timeout (and within ctx). Its output
// (stdout and stderr: etcd's tools log to stderr) is kept and, when it
// fails, its error line goes into the error, on one line.
func Run(ctx context.Context, timeout time.Duration, bin string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out tailBuffer
	cmd := command(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	if err == nil {
		return nil
	}
	what := filepath.Base(bin)
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		what += " " + args[0]
		if len(args) > 1 && !strings.HasPrefix(args[1], "-") {
			what += " " + args[1]
		}
	}
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%s (%s) did not finish within %s, killed: %s", what, bin, time.Since(start).Round(time.Second), ErrorLine(out.Bytes()))
		}
		return fmt.Errorf("%s (%s): %w", what, bin, ctx.Err())
	}
	if line := ErrorLine(out.Bytes()); line != "" {
		return fmt.Errorf("%s (%s): %v: %s", what, bin, err, line)
	}
	return fmt.Errorf("%s (%s): %w", what, bin, err)
}

func command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	// A killed tool's pipes close with it; this only bounds a grandchild
	// that kept them.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// ErrorLine is the line of a tool's output that says why it failed: the
// last "Error:" line (cobra's, which etcd's tools print last), else the
// first "panic:" line (zap's Panic, then a goroutine dump), else the last
// non-empty line; at most 500 bytes.
func ErrorLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last, panicked := "", ""
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		if last == "" {
			last = l
		}
		if strings.HasPrefix(l, "Error:") {
			return clip(strings.TrimSpace(strings.TrimPrefix(l, "Error:")))
		}
		if strings.HasPrefix(l, "panic: ") {
			panicked = l
		}
	}
	if panicked != "" {
		return clip(panicked)
	}
	return clip(last)
}

func clip(pick string) string {
	if len(pick) > 500 {
		pick = pick[:500] + "..."
	}
	return pick
}

func firstLine(b []byte) string {
	l, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return l
}

// tailBuffer keeps the last maxOutput bytes written to it.
type tailBuffer struct{ b bytes.Buffer }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b.Write(p)
	if n := t.b.Len() - maxOutput; n > 0 {
		t.b.Next(n)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte { return t.b.Bytes() }
