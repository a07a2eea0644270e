package defrag

import (
	"context"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// The observation must see a member with StopGRPCServiceOnDefrag report
// NOT_SERVING, however short its defragmentation, and must never claim it
// for a member without the gate.
func TestObserveGRPCHealthDuringDefrag(t *testing.T) {
	for _, gate := range []string{"StopGRPCServiceOnDefrag=true", "StopGRPCServiceOnDefrag=false"} {
		t.Run(gate, func(t *testing.T) {
			c := playgroundtest.Start(t, playground.Options{Members: 1, Config: map[string]any{"feature-gates": gate}})
			cli := playgroundtest.Client(t, c)
			playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 2000, PodPadding: 2048})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := playground.Fragment(ctx, cli, ""); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			observed := observeGRPCHealth(ctx, cli)
			if _, err := cli.Defragment(ctx, c.Endpoints()[0]); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			got := observed(took)
			t.Logf("defragmented in %s, observed %q", took.Round(time.Millisecond), got)
			if on := got == GRPCHealthOn; on != (gate == "StopGRPCServiceOnDefrag=true") {
				t.Errorf("observed %q with %s", got, gate)
			}
		})
	}
}
