package inventory_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/inventory"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestMain(m *testing.M) {
	playground.RunMemberIfRequested()
	os.Exit(m.Run())
}

func TestInventoryCommand(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 300, ConfigMaps: 40, Events: 100, Leases: 5})
	eps := strings.Join(c.Endpoints(), ",")

	res := clitest.Run(t, nil, "inventory", "-o", "json", "--endpoints", eps, "--page-size", "100")
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	var r inventory.Report
	if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
		t.Fatal(err)
	}
	if r.Keys != 445 || r.Pages < 5 || r.Revision == 0 || r.Resources[0].Resource != "pods" || r.Resources[0].Keys != 300 {
		t.Fatalf("report: %d keys in %d pages at %d, first resource %+v", r.Keys, r.Pages, r.Revision, r.Resources[0])
	}

	res = clitest.Run(t, nil, "inventory", "--endpoints", eps, "--serializable", "--keys-only", "--max-rps", "50")
	for _, want := range []string{"keyspace: 445 keys", "key bytes only", "RESOURCE", "pods", "TOP NAMESPACES", "LARGEST KEYS"} {
		if !strings.Contains(res.Stdout, want) {
			t.Fatalf("table lacks %q:\n%s", want, res.Stdout)
		}
	}

	for _, bad := range [][]string{{"--page-size", "0"}, {"--max-rps", "-1"}, {"--top", "0"}} {
		if res := clitest.Run(t, nil, append([]string{"inventory", "--endpoints", eps}, bad...)...); res.Code != 64 {
			t.Fatalf("%v: exit %d, want 64", bad, res.Code)
		}
	}
	if res := clitest.Run(t, nil, "inventory", "--endpoints", "127.0.0.1:1", "--command-timeout", "1s"); res.Code != 3 {
		t.Fatalf("unreachable: exit %d, want 3", res.Code)
	}
}

// With quorum lost (two of three SIGKILLed) no read through the leader is
// answered: inventory fails in one --command-timeout, says why, and names
// the serializable read with the flags in effect, which, run as printed,
// inventories the survivor's own copy.
func TestInventoryWithQuorumLostNamesTheSerializableRead(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 60, ConfigMaps: 10, Events: 0, Leases: 0})
	for i := 1; i <= 2; i++ {
		if err := c.Member(i).Kill(); err != nil {
			t.Fatal(err)
		}
	}
	eps := strings.Join(c.Endpoints(), ",")
	res := clitest.Run(t, nil, "inventory", "--endpoints", eps, "--command-timeout", "1s", "--keys-only", "--top", "3", "-o", "json")
	if res.Code != 2 || !strings.Contains(res.Stderr, "a read through the leader needs a leader with a quorum") {
		t.Fatalf("exit %d, want 2 saying why the read timed out", res.Code)
	}
	const lead = "→ with quorum lost or no leader, read one member's own copy instead: "
	_, line, ok := strings.Cut(res.Stderr, lead)
	if !ok {
		t.Fatal("no serializable read suggested")
	}
	line, _, _ = strings.Cut(line, "\n")
	want := "etcdmedic inventory --serializable --keys-only --top 3 -o json --endpoints " + eps + " --command-timeout 1s"
	if line != want {
		t.Fatalf("suggested %q, want %q", line, want)
	}
	res = clitest.Run(t, nil, clitest.ShellWords(t, line)...)
	var r inventory.Report
	if err := json.Unmarshal([]byte(res.Stdout), &r); res.Code != 0 || err != nil || r.Keys < 70 || !r.KeysOnly || len(r.LargestKeys) != 3 {
		t.Fatalf("the suggested read: exit %d, %v, %d keys, keys only %v, %d largest keys", res.Code, err, r.Keys, r.KeysOnly, len(r.LargestKeys))
	}
}
