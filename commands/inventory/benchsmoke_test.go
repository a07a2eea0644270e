package inventory_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// scripts/bench-inventory.sh keeps working: a tiny run (no timing asserted)
// of two layouts fails unless every inventory counts exactly the keys
// seeded, and prints the ratios and the table with verdicts.
func TestBenchInventoryScriptSmoke(t *testing.T) {
	cmd := exec.Command("bash", "../../scripts/bench-inventory.sh")
	// Not under the benchmark lock: a tiny run disturbs little, and a test
	// must not wait for someone's long benchmark.
	cmd.Env = append(os.Environ(), "BENCH_SIZES=3000", "BENCH_LAYOUTS=longtail flat", "BENCH_ROUNDS=1", "BENCH_LOCK=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench-inventory.sh: %v\n%s", err, out)
	}
	for _, want := range []string{"== longtail, 3000 keys", "== flat, 3000 keys", "inventory-keys-only      / etcdctl-keys-only    wall", "inventory-keys-only      / etcdctl-keys-only    etcd cpu",
		"inventory                / etcdctl              max", "control-keys-only        / etcdctl-keys-only", "longtail      3000 keys-only", "flat          3000 values"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("no %q in the output:\n%s", want, out)
		}
	}
}
