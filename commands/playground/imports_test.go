package playground_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The demo runs the real commands through the root, so this package must
// depend on no other command package: were it to import one again, it could
// again copy that command's settings with its own values.
func TestImportsNoOtherCommand(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const commands = "github.com/etcdmedic/etcdmedic/commands"
	allowed := map[string]bool{
		commands + "/playground": true,
		commands + "/cmdutil":    true,
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list found only %q", deps)
	}
	for _, p := range deps {
		if (p == commands || strings.HasPrefix(p, commands+"/")) && !allowed[p] {
			t.Errorf("commands/playground depends on %s", p)
		}
	}
}
