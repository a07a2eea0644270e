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
