package commands_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands"
	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	docscmd "github.com/etcdmedic/etcdmedic/commands/docs"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
)

// The checked-in CLI reference must match the command tree. When this fails,
// run: go run ./cmd/etcdmedic docs
func TestDocsUpToDate(t *testing.T) {
	ios, _, _ := iostreams.Test()
	root := commands.NewRootCmd(cmdutil.NewFactory(ios, func(string) string { return "" }))
	dir := t.TempDir()
	if err := docscmd.GenerateMarkdown(root, dir); err != nil {
		t.Fatal(err)
	}
	generated, _ := filepath.Glob(filepath.Join(dir, "*.md"))
	checkedIn, _ := filepath.Glob("../docs/cli/*.md")
	if len(generated) == 0 || len(generated) != len(checkedIn) {
		t.Fatalf("docs/cli has %d pages, the command tree %d: run `go run ./cmd/etcdmedic docs`", len(checkedIn), len(generated))
	}
	for _, g := range generated {
		want, _ := os.ReadFile(g)
		got, err := os.ReadFile(filepath.Join("../docs/cli", filepath.Base(g)))
		if err != nil || string(got) != string(want) {
			t.Fatalf("docs/cli/%s is stale: run `go run ./cmd/etcdmedic docs`", filepath.Base(g))
		}
	}
}

func TestVersion(t *testing.T) {
	res := clitest.Run(t, nil, "version", "-o", "json")
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	var info map[string]string
	if err := json.Unmarshal([]byte(res.Stdout), &info); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(info["etcdClientVersion"], "3.7.") || !strings.HasPrefix(info["goVersion"], "go1.") || info["version"] == "" {
		t.Fatalf("version info = %v", info)
	}
	res = clitest.Run(t, nil, "version")
	if !strings.Contains(res.Stdout, "etcd client: 3.7.") {
		t.Fatalf("version table:\n%s", res.Stdout)
	}
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		res := clitest.Run(t, nil, "completion", shell)
		if res.Code != 0 || !strings.Contains(res.Stdout, "etcdmedic") {
			t.Fatalf("completion %s: exit %d", shell, res.Code)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"no-such-command"}, {"status", "--no-such-flag"}, {"status", "--dial-timeout", "soon"}} {
		res := clitest.Run(t, nil, args...)
		if res.Code != 64 || !strings.HasPrefix(res.Stderr, "Error: ") {
			t.Fatalf("%v: exit %d, stderr %q; want 64 and a one-line error", args, res.Code, res.Stderr)
		}
	}
	// No prefix matching: a break-glass command must never run from an abbreviation.
	if res := clitest.Run(t, nil, "stat"); res.Code != 64 {
		t.Fatalf("`stat` resolved to a command: exit %d", res.Code)
	}
}
