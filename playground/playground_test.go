package playground

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/etcdmedic/etcdmedic/internal/kube"
)

func TestMain(m *testing.M) {
	RunMemberIfRequested()
	os.Exit(m.Run())
}

func TestClusterLifecycle(t *testing.T) {
	ctx := context.Background()
	c, err := Start(ctx, Options{Members: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()

	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ml, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ml.Members) != 3 {
		t.Fatalf("members = %d, want 3", len(ml.Members))
	}
	pids := map[int]bool{}
	for _, m := range c.Members() {
		if m.PID() == 0 || pids[m.PID()] || m.PID() == os.Getpid() {
			t.Fatalf("member %s: pid %d is not a separate process", m.Name, m.PID())
		}
		pids[m.PID()] = true
	}

	res, err := Seed(ctx, cli, SeedOptions{Pods: 400, ConfigMaps: 100, Events: 300, Leases: 5, PodPadding: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.Keys != 805 {
		t.Fatalf("seeded %d keys, want 805", res.Keys)
	}
	got, err := cli.Get(ctx, "/registry/pods/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Kvs) != 400 {
		t.Fatalf("pods in etcd = %d, want 400", len(got.Kvs))
	}
	phases := map[corev1.PodPhase]int{}
	for _, kv := range got.Kvs {
		if !strings.HasPrefix(string(kv.Value), "k8s\x00") {
			t.Fatalf("%s lacks the k8s protobuf envelope", kv.Key)
		}
		pod, err := kube.DecodePod(kv.Value)
		if err != nil {
			t.Fatalf("%s: %v", kv.Key, err)
		}
		if want := "/registry/pods/" + pod.Namespace + "/" + pod.Name; string(kv.Key) != want {
			t.Fatalf("key %s holds pod %s", kv.Key, want)
		}
		phases[pod.Status.Phase]++
	}
	if phases[corev1.PodRunning] != 200 || phases[corev1.PodSucceeded] != 100 || phases[corev1.PodFailed] != 60 || phases[corev1.PodPending] != 40 {
		t.Fatalf("phases = %v", phases)
	}

	fr, err := Fragment(ctx, cli, "")
	if err != nil {
		t.Fatal(err)
	}
	if fr.Deleted != 300+50 {
		t.Fatalf("fragment deleted %d, want 350", fr.Deleted)
	}

	// Pause one member: it stops answering, the other two keep quorum.
	m := c.Member(2)
	if err := m.Pause(); err != nil {
		t.Fatal(err)
	}
	one, err := c.Client(m.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = one.Status(sctx, m.ClientURL)
	cancel()
	one.Close()
	if err == nil {
		t.Fatal("a paused member answered Status")
	}
	// A client pinned to a running member: a balanced client may pick the paused one.
	other, err := c.Client(c.Member(0).ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	// If the paused member was the leader, the others first elect a new one.
	deadline := time.Now().Add(20 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := other.Put(pctx, "/probe", "x")
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("put with one member paused: %v", err)
		}
	}
	if err := m.Resume(); err != nil {
		t.Fatal(err)
	}

	// Kill and restart: the member comes back on its data.
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	if m.Running() {
		t.Fatal("killed member still running")
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
}
