package defrag_test

import (
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/defrag"
	"github.com/etcdmedic/etcdmedic/playground"
)

// A one-member cluster (many kubeadm clusters have one control-plane node)
// can never be defragmented online: the gate refuses and says what to do;
// --allow-downtime shows the stall in the plan and asks; confirmed, it runs.
func TestOneMemberClusterNeedsAllowDowntime(t *testing.T) {
	c := fragmented(t, playground.Options{Members: 1})
	eps := endpoints(c)
	before := sizes(t, c)

	res := clitest.Run(t, nil, "defrag", "--rule", "true", "--endpoints", eps)
	if res.Code != 4 || !strings.Contains(res.Stdout, "--allow-downtime") || !strings.Contains(res.Stdout, "etcdmedic breakglass defrag-offline") {
		t.Fatalf("one voter without --allow-downtime: exit %d, want 4 pointing at --allow-downtime and the offline way", res.Code)
	}
	res = clitest.Run(t, nil, "defrag", "--rule", "true", "--allow-downtime", "--dry-run", "-o", "json", "--endpoints", eps)
	var warned bool
	for _, e := range events(t, res.Stdout) {
		if e.Event == defrag.EventWarning && strings.Contains(e.Message, "stops serving") && strings.Contains(e.Message, "predicted") {
			warned = true
		}
	}
	if res.Code != 0 || !warned {
		t.Fatalf("--allow-downtime --dry-run: exit %d, downtime warned %v; want 0 and the predicted stall", res.Code, warned)
	}
	// No --yes and no terminal to ask on: refused, nothing changed.
	res = clitest.Run(t, nil, "defrag", "--rule", "true", "--allow-downtime", "--endpoints", eps)
	if res.Code != 4 || !strings.Contains(res.Stdout+res.Stderr, "not confirmed") {
		t.Fatalf("--allow-downtime unconfirmed: exit %d, want 4 not confirmed", res.Code)
	}
	for name, b := range before {
		if after := sizes(t, c)[name]; after != b {
			t.Fatalf("a refused run changed %s: %d → %d", name, b, after)
		}
	}
	res = clitest.Run(t, nil, "defrag", "--rule", "true", "--allow-downtime", "--yes", "--endpoints", eps)
	if res.Code != 0 {
		t.Fatalf("--allow-downtime --yes: exit %d, want 0", res.Code)
	}
	for name, b := range before {
		if after := sizes(t, c)[name]; after >= b {
			t.Fatalf("%s not defragmented: %d → %d", name, b, after)
		}
	}
}
