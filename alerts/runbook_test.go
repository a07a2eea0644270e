package alerts_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/alerts"
	"github.com/etcdmedic/etcdmedic/commands"
	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
)

// Every etcdmedic command a runbook names is one the CLI takes (no flag it
// lacks, such as a --dir snapshot save never had), and each doctor in them
// judges with the --preset and --set the rules were made with: the alert
// fired at those thresholds, and the default preset may see nothing there.
func TestRunbookCommandsParseAndCarryTheThresholds(t *testing.T) {
	o := alerts.DefaultOptions()
	o.Preset = "openshift"
	var err error
	if o.Thresholds, err = health.Resolve(o.Preset, []string{"fsync.warn=20ms"}); err != nil {
		t.Fatal(err)
	}
	o.Carry = health.CarryArgs(o.Preset, []string{"fsync.warn=20ms"})
	// A command runs from "etcdmedic" to the first punctuation or the prose
	// that follows it in a runbook.
	commandRe := regexp.MustCompile(`etcdmedic [^;(,]*`)
	prose := regexp.MustCompile(` (on|then|if) .*$`)
	ios, _, _ := iostreams.Test()
	checked := 0
	for _, g := range alerts.Generate(o) {
		for _, r := range g.Rules {
			for _, line := range commandRe.FindAllString(r.Runbook, -1) {
				line = strings.TrimSpace(prose.ReplaceAllString(line, ""))
				words := clitest.ShellWords(t, line)
				root := commands.NewRootCmd(cmdutil.NewFactory(ios, func(string) string { return "" }))
				cmd, rest, err := root.Find(words)
				if err != nil || cmd == root {
					t.Errorf("%s: %q is no etcdmedic command: %v", r.Alert, line, err)
					continue
				}
				if err := cmd.ParseFlags(rest); err != nil {
					t.Errorf("%s: %q: %v", r.Alert, line, err)
					continue
				}
				if cmd.Args != nil {
					if err := cmd.Args(cmd, cmd.Flags().Args()); err != nil {
						t.Errorf("%s: %q: %v", r.Alert, line, err)
					}
				}
				if cmd.Name() == "doctor" && !strings.HasPrefix(line, "etcdmedic doctor --preset openshift --set fsync.warn=20ms") {
					t.Errorf("%s: %q does not judge with the rules' thresholds", r.Alert, line)
				}
				checked++
			}
		}
	}
	if checked < 15 {
		t.Fatalf("checked %d runbook commands: the pattern no longer finds them", checked)
	}
}
