package defrag_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/defrag"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestDefragDryRunExplainsThePlanAndChangesNothing(t *testing.T) {
	c := fragmented(t, playground.Options{Members: 3})
	// Single writes, each a WAL fsync on every member: enough observations
	// for the slow-disk gate below to judge a lifetime p99 at all.
	cli := playgroundtest.Client(t, c)
	for i := 0; i < 80; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := cli.Put(ctx, "/fsync-observations", fmt.Sprint(i))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	leader, err := c.Leader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	before := sizes(t, c)
	res := clitest.Run(t, nil, "defrag", "--dry-run", "-o", "json", "--endpoints", endpoints(c), "--rule", "fragmentation >= 0.3 && !isLeader")
	if res.Code != 0 {
		t.Fatalf("exit %d\n%s", res.Code, res.Stderr)
	}
	var plan []defrag.PlanEntry
	for _, e := range events(t, res.Stdout) {
		switch e.Event {
		case defrag.EventPlan:
			plan = e.Plan
		case defrag.EventMemberStart, defrag.EventLeaderMove, defrag.EventLock, defrag.EventCompact:
			t.Fatalf("a dry run acted: %+v", e)
		}
	}
	if len(plan) != 3 || plan[2].MemberName != leader.Name || plan[2].Role != "leader" {
		t.Fatalf("plan %+v; want three members, the leader %s last", plan, leader.Name)
	}
	for i, p := range plan {
		wantDefrag := p.Role != "leader" // the rule excludes the leader
		if p.Defragment != wantDefrag || p.ReclaimableBytes <= 0 || p.PredictedSeconds <= 0 || p.DBSize <= 0 ||
			!strings.Contains(p.Reason, "fragmentation=0.") || !strings.Contains(p.Reason, "isLeader=") ||
			p.StopGRPCServiceOnDefrag != defrag.GRPCHealthUnknown {
			t.Fatalf("plan entry %d: %+v", i, p)
		}
		// etcd copies only the pages in use: a member with ≥ 30 % of its file
		// free must be predicted well under what its file size would say.
		if inUse := p.DBSize - p.ReclaimableBytes; p.PredictedSeconds > 0.5+float64(inUse)/100e6+0.01 || p.PredictedSeconds >= 0.5+float64(p.DBSize)/100e6 {
			t.Fatalf("plan entry %d: predicted %.2fs for %d bytes in use of %d", i, p.PredictedSeconds, inUse, p.DBSize)
		}
		if i > 0 && plan[i-1].Role == "follower" && p.Role == "follower" && plan[i-1].ReclaimableBytes < p.ReclaimableBytes {
			t.Fatalf("followers not ordered most reclaimable first: %+v", plan)
		}
	}
	if !strings.HasPrefix(plan[2].Reason, "rule false") || !strings.HasPrefix(plan[0].Reason, "rule true") {
		t.Fatalf("reasons: %q / %q", plan[0].Reason, plan[2].Reason)
	}

	res = clitest.Run(t, nil, "defrag", "--dry-run", "--endpoints", endpoints(c), "--rule-preset", "openshift")
	if res.Code != 0 {
		t.Fatalf("exit %d\n%s", res.Code, res.Stderr)
	}
	for _, want := range []string{"PREDICTED STALL", "RECLAIMABLE", "rule false: dbSize=", "StopGRPCServiceOnDefrag: unknown", "dry run: nothing changed"} {
		if !strings.Contains(res.Stdout, want) {
			t.Fatalf("table output lacks %q:\n%s", want, res.Stdout)
		}
	}
	// The optional disk gate: any fsync at all is "critical" at 1ns.
	res = clitest.Run(t, nil, "defrag", "--endpoints", endpoints(c), "--refuse-slow-disk", "--slow-disk-fsync-p99", "1ns")
	if res.Code != 4 || !strings.Contains(res.Stdout, "WAL fsync") || !strings.Contains(res.Stdout, "is already critical") {
		t.Fatalf("--refuse-slow-disk: exit %d, want 4 naming the fsync gate\n%s", res.Code, res.Stdout)
	}
	after := sizes(t, c)
	for name, b := range before {
		if after[name] != b {
			t.Fatalf("a dry run or a refused run changed %s: %d → %d", name, b, after[name])
		}
	}
}
