package status_test

import (
	"context"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// Colour and box drawing appear only on a terminal, and never with NO_COLOR,
// --no-color or a machine format.
func TestColorOnlyOnATerminal(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	run := func(tty bool, getenv func(string) string, args ...string) string {
		ios, out, _ := iostreams.Test()
		ios.SetTTY(tty)
		ios.SetColorEnabled(tty) // what iostreams.System decides for a terminal without NO_COLOR
		if code := commands.Execute(context.Background(), append([]string{"status", "--endpoints", endpoints(c)}, args...), ios, getenv); code != 0 {
			t.Fatalf("exit %d", code)
		}
		return out.String()
	}
	if out := run(true, playgroundtest.Env()); !strings.Contains(out, "\x1b[") || !strings.Contains(out, "│") {
		t.Fatalf("terminal output has no colour or box:\n%s", out)
	}
	if out := run(true, playgroundtest.Env("NO_COLOR", "1")); strings.Contains(out, "\x1b[") {
		t.Fatalf("colour despite NO_COLOR:\n%q", out)
	}
	if out := run(true, playgroundtest.Env(), "--no-color"); strings.Contains(out, "\x1b[") {
		t.Fatalf("colour despite --no-color:\n%q", out)
	}
	if out := run(true, playgroundtest.Env(), "-o", "json"); strings.Contains(out, "\x1b[") || !strings.HasPrefix(out, "{") {
		t.Fatalf("-o json on a terminal must be plain JSON:\n%q", out)
	}
	if out := run(false, playgroundtest.Env()); strings.Contains(out, "\x1b[") || strings.Contains(out, "│") {
		t.Fatalf("pipe output has colour or box drawing:\n%q", out)
	}
}
