package commands_test

import (
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
)

// A typo in a group's subcommand must not pass for success in a script.
func TestGroupUnknownSubcommand(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		suggest string
	}{
		{[]string{"snapshot", "sav"}, "save"},
		{[]string{"breakglass", "purge"}, "purge-pods"},
		{[]string{"snapshot", "nothing-like-it"}, "commands: "},
		{[]string{"completion", "fsh"}, "fish"},
	} {
		res := clitest.Run(t, nil, tc.args...)
		if res.Code != 64 || !strings.HasPrefix(res.Stderr, "Error: unknown command ") || !strings.Contains(res.Stderr, tc.suggest) {
			t.Fatalf("%v: exit %d, stderr %q; want 64 naming %q", tc.args, res.Code, res.Stderr, tc.suggest)
		}
		if lines := strings.Split(strings.TrimSpace(res.Stderr), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "Run 'etcdmedic "+tc.args[0]+" --help'") {
			t.Fatalf("%v: stderr is not one error line and the usage hint: %q", tc.args, res.Stderr)
		}
		if res.Stdout != "" {
			t.Fatalf("%v: printed help on stdout: %q", tc.args, res.Stdout)
		}
	}
}

// A bare group is a question ("what is in here?"): its help, exit 0.
func TestGroupAlonePrintsHelp(t *testing.T) {
	for _, group := range []string{"snapshot", "breakglass", "completion"} {
		res := clitest.Run(t, nil, group)
		if res.Code != 0 || !strings.Contains(res.Stdout, "Available Commands:") || res.Stderr != "" {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q", group, res.Code, res.Stdout, res.Stderr)
		}
	}
}
