package inventory_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// scripts/bench-inventory.sh keeps working: a tiny run (no timing asserted)
// seeds the real-cluster layout, fails unless every inventory counts exactly
// the keys seeded, and prints both ratios with a verdict.
func TestBenchInventoryScriptSmoke(t *testing.T) {
	cmd := exec.Command("bash", "../../scripts/bench-inventory.sh")
	cmd.Env = append(os.Environ(), "BENCH_KEYS=3000", "BENCH_ROUNDS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench-inventory.sh: %v\n%s", err, out)
	}
	for _, want := range []string{"seeded 3000 keys", "inventory-keys-only  / etcdctl-keys-only", "inventory            / etcdctl ", "control-keys-only    / etcdctl-keys-only"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("no %q in the output:\n%s", want, out)
		}
	}
}
