package breakglass

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// The ramp's etcd gate against real members: healthy passes; a member
// frozen with SIGSTOP fails it within the command timeout.
func TestEtcdGateFailsOnAFrozenMember(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	cfg, err := cluster.Resolve(cluster.Inputs{Endpoints: c.Endpoints(), DialTimeout: 2 * time.Second, CommandTimeout: 3 * time.Second,
		Manifest: "/nonexistent", Set: func(f string) bool { return f == "endpoints" || f == "manifest" }, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := cluster.Open(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	gate := EtcdGate(cl, EtcdThresholds{FsyncP99: 5, ApplyGap: 1000})
	ctx := context.Background()
	if err := gate(ctx); err != nil {
		t.Fatalf("healthy cluster fails the gate: %v", err)
	}
	m := c.Member(2)
	if err := m.Pause(); err != nil {
		t.Fatal(err)
	}
	defer m.Resume()
	start := time.Now()
	err = gate(ctx)
	if err == nil || !strings.Contains(err.Error(), m.Name) {
		t.Fatalf("gate with %s frozen: %v", m.Name, err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("gate took %s with a frozen member", took)
	}
}
