package defrag

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestMain(m *testing.M) {
	playground.RunMemberIfRequested()
	os.Exit(m.Run())
}

// One member with StopGRPCServiceOnDefrag on: the first look finds the
// defrag-inflight gauge, a single voter is refused (no quorum margin), and
// the member's NOT_SERVING during a defragmentation is observed.
func TestGateAndGRPCHealthOnARealMember(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1, Config: map[string]any{"feature-gates": "StopGRPCServiceOnDefrag=true"}})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 800, Events: 1500, PodPadding: 2000, EventPadding: 1000})
	cc, err := cluster.Open(&cluster.Config{Endpoints: c.Endpoints(), DialTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	r := &runner{c: cc, o: Options{MaxApplyLag: 1000}, sum: &Summary{}}
	r.checkInflight = true
	g := r.gate(ctx)
	if g.snap == nil || !anyHas(g.snap, metricDefragInflight) {
		t.Fatalf("the first look did not find %s in /metrics", metricDefragInflight)
	}
	if !strings.Contains(g.failure, "quorum margin: 1 healthy voters, 1 needed with one offline") {
		t.Fatalf("a single voter must be refused for its quorum margin; gate said %q", g.failure)
	}

	m := c.Member(0)
	cli := playgroundtest.Client(t, c, m.ClientURL)
	seen := []string{}
	for i := 0; i < 5; i++ {
		start := time.Now()
		observed := observeGRPCHealth(ctx, cli)
		if _, err := cli.Defragment(ctx, m.ClientURL); err != nil {
			t.Fatal(err)
		}
		got := observed(time.Since(start))
		if got == GRPCHealthOn {
			return
		}
		seen = append(seen, got)
	}
	t.Fatalf("NOT_SERVING never observed during 5 defragmentations with StopGRPCServiceOnDefrag on: %v", seen)
}

// The --set values a refusal's doctor carries are ones doctor accepts, and
// give it the very thresholds the gate judged with.
func TestJudgeOverridesGiveDoctorTheGatesThresholds(t *testing.T) {
	for _, o := range []Options{
		{},
		{MaxApplyLag: 1000, SlowDiskFsyncP99: 500 * time.Millisecond},
		{MaxApplyLag: 5000},
		{MaxApplyLag: 7, SlowDiskFsyncP99: 1250 * time.Millisecond},
	} {
		got, err := health.Resolve(health.DefaultPreset, o.JudgeOverrides())
		if err != nil {
			t.Fatalf("%+v: doctor refuses %q: %v", o, o.JudgeOverrides(), err)
		}
		if want := (&runner{o: o}).thresholds(); got != want {
			t.Errorf("%+v: doctor with %q judges with %+v, the gate with %+v", o, o.JudgeOverrides(), got, want)
		}
	}
	if got := (Options{MaxApplyLag: 1000, SlowDiskFsyncP99: 500 * time.Millisecond}).JudgeOverrides(); len(got) != 0 {
		t.Errorf("the defaults carry %q; want nothing", got)
	}
}
