package breakglass

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// The acceptance run uses 200,000 pods in BenchmarkPurge (scripts/bench-purge.sh);
// the normal suite runs the same checks on 10,000 to stay within minutes.
func TestPurgeDeletesExactlyTheMatchesGuardedAndUndoRestores(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	cli := playgroundtest.Client(t, c)
	cl := openCluster(t, c, 5*time.Second)
	before, want := seedPurge(t, cli, 10000)
	if len(want) < 1000 {
		t.Fatalf("fixture selects only %d pods", len(want))
	}
	root, _ := fixtureRoot(t)
	l, j := mustLayout(t, root)
	ctx := context.Background()

	// Dry run: counts, nothing changed.
	dry, err := Purge(ctx, cl, PurgeOptions{Filter: purgeFilter(t), DryRun: true, PageSize: 700})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Matched != len(want) || dry.Encrypted != 1 || dry.Undecodable != 3 || dry.BadKeys != 2 {
		t.Fatalf("dry run: matched %d (want %d), encrypted %d, undecodable %d, bad keys %d", dry.Matched, len(want), dry.Encrypted, dry.Undecodable, dry.BadKeys)
	}
	sum := 0
	for _, g := range dry.Groups {
		sum += g.Pods
	}
	if sum != dry.Matched || dry.BytesToFree <= 0 || len(dry.SampleKeys) == 0 || !want[dry.SampleKeys[0]] {
		t.Fatalf("dry-run report inconsistent: %+v", dry)
	}
	if got := dumpAll(t, cli); len(got) != len(before) {
		t.Fatalf("dry run changed etcd: %d keys, had %d", len(got), len(before))
	}

	// For real, with one matching pod modified between read and delete.
	var touched string
	rep, err := PurgeJournaled(ctx, cl, l, j, PurgeOptions{Filter: purgeFilter(t), PageSize: 700,
		BeforeDelete: func(ctx context.Context) error {
			for k := range want {
				touched = k
				break
			}
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := cli.Put(pctx, touched, before[touched])
			return err
		}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deleted != len(want)-1 || rep.Changed != 1 {
		t.Fatalf("deleted %d changed %d, want %d and 1", rep.Deleted, rep.Changed, len(want)-1)
	}
	after := dumpAll(t, cli)
	for k, v := range before {
		_, present := after[k]
		switch {
		case k == touched && !present:
			t.Errorf("%s was modified after the read and must survive", k)
		case want[k] && k != touched && present:
			t.Errorf("%s matched and survived", k)
		case !want[k] && (!present || after[k] != v):
			t.Errorf("%s must survive unchanged", k)
		}
	}
	if len(after) != len(before)-rep.Deleted {
		t.Fatalf("%d keys left, want %d", len(after), len(before)-rep.Deleted)
	}

	// Undo without --pods leaves the pods alone; with it, brings them back.
	steps, err := Undo(ctx, l, j, UndoOptions{Cluster: cl})
	if err != nil || len(steps) != 1 || steps[0].Result != "pending" {
		t.Fatalf("undo without pods: %+v %v", steps, err)
	}
	if len(dumpAll(t, cli)) != len(after) {
		t.Fatal("undo without --pods restored pods")
	}
	steps, err = Undo(ctx, l, j, UndoOptions{Cluster: cl, RestorePods: true})
	if err != nil || len(steps) != 1 || steps[0].Result != ResultOK {
		t.Fatalf("undo: %+v %v", steps, err)
	}
	restored := dumpAll(t, cli)
	if len(restored) != len(before) {
		t.Fatalf("after undo %d keys, want %d", len(restored), len(before))
	}
	for k, v := range before {
		if restored[k] != v {
			t.Errorf("%s not restored", k)
		}
	}
	if steps, _ := Undo(ctx, l, j, UndoOptions{Cluster: cl, RestorePods: true}); len(steps) != 0 {
		t.Fatalf("second undo redid %+v", steps)
	}
}

// A page of large pods that outgrows the client's message limit must not
// fail the purge: the scan retries with smaller pages and still sees every pod.
func TestPurgeShrinksPagesPastTheMessageLimit(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	_, want := seedPurge(t, playgroundtest.Client(t, c), 2000)
	const limit = 256 << 10
	small, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, MaxCallRecvMsgSize: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The premise: one page of 700 pods does not fit in the limit.
	if _, err := small.Get(ctx, PodsPrefix("/registry"), clientv3.WithPrefix(), clientv3.WithLimit(700)); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a 700-pod page within %d bytes (err %v): the test proves nothing", limit, err)
	}
	rep, err := purge(ctx, kvConn{cli: small, deadline: timeout(time.Minute), page: time.Minute}, PurgeOptions{Filter: purgeFilter(t), DryRun: true, PageSize: 700})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Matched != len(want) {
		t.Fatalf("matched %d, want %d", rep.Matched, len(want))
	}
}

// Every delete is bounded by --command-timeout: a member frozen between the
// read and the deletes costs one timeout, not a hang, and nothing is lost.
func TestPurgeDeletesAreBoundedByTheCommandTimeout(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	cli := playgroundtest.Client(t, c)
	before, want := seedPurge(t, cli, 300)
	const commandTimeout = 2 * time.Second
	cl := openCluster(t, c, commandTimeout)
	root, _ := fixtureRoot(t)
	l, j := mustLayout(t, root)
	m := c.Member(0)
	start := time.Now()
	var frozen time.Time
	rep, err := PurgeJournaled(context.Background(), cl, l, j, PurgeOptions{Filter: purgeFilter(t),
		BeforeDelete: func(context.Context) error {
			frozen = time.Now()
			return m.Pause()
		}})
	took := time.Since(frozen)
	if rerr := m.Resume(); rerr != nil {
		t.Fatal(rerr)
	}
	if err == nil || frozen.IsZero() {
		t.Fatalf("purge against a frozen member: %v (frozen at %v)", err, frozen)
	}
	if took > 4*commandTimeout {
		t.Fatalf("the deletes took %s after the member froze, want about %s", took, commandTimeout)
	}
	t.Logf("failed %s after the freeze (%s in all): %v", took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), err)
	if rep.Deleted != 0 || len(want) == 0 {
		t.Fatalf("deleted %d of %d", rep.Deleted, len(want))
	}
	// The archive was journaled before the deletes, so undo puts back
	// whatever a timed-out delete may still have done once the member woke.
	plan, perr := UndoPlan(j)
	if perr != nil || len(plan) != 1 || plan[0].Action != ActPurge || plan[0].Archive != l.Rel(rep.Archive) {
		t.Fatalf("undo plan %+v %v", plan, perr)
	}
	if _, err := Undo(context.Background(), l, j, UndoOptions{Cluster: cl, RestorePods: true}); err != nil {
		t.Fatal(err)
	}
	after := dumpAll(t, cli)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s not back after undo", k)
		}
	}
}
