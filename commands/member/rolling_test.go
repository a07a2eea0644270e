package member_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/health" // client-side health checking

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// healthChecked balances over every endpoint, skipping a member whose gRPC
// health service says NOT_SERVING, and follows the member list (as a client
// of a cluster being resized must).
const healthChecked = `{"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":""}}`

// Every member of three replaced in turn while a client writes 50 puts/s:
// no write fails, and every voter's hash is equal at the end (each replace
// verifies it, and the last one is checked again here).
func TestReplaceEveryMemberUnderWrites(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: c.Endpoints(), DialTimeout: 2 * time.Second, AutoSyncInterval: 500 * time.Millisecond, Logger: zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithDisableServiceConfig(), grpc.WithDefaultServiceConfig(healthChecked)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	var mu sync.Mutex
	var ok int
	var failed []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := cli.Put(ctx, fmt.Sprintf("/writes/%06d", i), "v")
			cancel()
			mu.Lock()
			if err != nil {
				failed = append(failed, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err))
			} else {
				ok++
			}
			mu.Unlock()
		}
	}()

	current := map[string]string{}
	for _, m := range c.Members() {
		current[m.Name] = m.ClientURL
	}
	eps := func() string {
		var out []string
		for _, u := range current {
			out = append(out, u)
		}
		return strings.Join(out, ",")
	}
	for i, old := range []string{"m1", "m2", "m3"} {
		name := fmt.Sprintf("n%d", i+1)
		clientURL, peerURL := newURLs(t, c)
		state := filepath.Join(t.TempDir(), "replace.json")
		done := make(chan clitest.Result, 1)
		args := []string{"member", "replace", old, "--name", name, "--peer-urls", peerURL, "--state-file", state, "--yes", "--endpoints", eps()}
		go func() { done <- clitest.Run(t, nil, args...) }()
		var started bool
		for deadline := time.Now().Add(2 * time.Minute); !started; time.Sleep(100 * time.Millisecond) {
			select {
			case res := <-done:
				t.Fatalf("replace %s ended before %s started: exit %d\n%s", old, name, res.Code, res.Stderr)
			default:
			}
			if j := readJournal(t, state); j != nil && j.Start != nil {
				if _, err := c.StartJoining(clientURL, j.Start.Flags); err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: started %s", time.Now().Format("15:04:05.000"), name)
				started = true
			}
			if time.Now().After(deadline) {
				t.Fatalf("replace %s: %s never added", old, name)
			}
		}
		// Asked to, the operator stops OLD (SIGTERM: it drains its clients).
		var res clitest.Result
		for stopped := false; ; time.Sleep(100 * time.Millisecond) {
			select {
			case res = <-done:
			default:
				if j := readJournal(t, state); !stopped && j != nil && strings.HasPrefix(j.Waiting, "stop ") {
					t.Logf("%s: stopping %s", time.Now().Format("15:04:05.000"), old)
					if err := memberNamed(c, old).Stop(); err != nil {
						t.Fatal(err)
					}
					t.Logf("%s: stopped %s", time.Now().Format("15:04:05.000"), old)
					stopped = true
				}
				continue
			}
			break
		}
		if res.Code != 0 {
			t.Fatalf("replace %s by %s: exit %d\n%s", old, name, res.Code, res.Stderr)
		}
		if !strings.Contains(res.Stderr, "have the same hash") {
			t.Fatalf("replace %s: no HashKV verification\n%s", old, res.Stderr)
		}
		delete(current, old)
		current[name] = clientURL
	}
	close(stop)
	wg.Wait()

	l := list(t, eps())
	if len(l.Members) != 3 || voters(l) != 3 || !named(l, "n1") || !named(l, "n2") || !named(l, "n3") {
		t.Fatalf("after replacing every member: %+v", l.Members)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d writes, %d failed", ok+len(failed), len(failed))
	if len(failed) > 0 || ok < 100 {
		t.Fatalf("%d writes succeeded, %d failed:\n%s", ok, len(failed), strings.Join(failed, "\n"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/writes/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != int64(ok) {
		t.Fatalf("%d keys written (%v), want %d", resp.Count, err, ok)
	}
}

func memberNamed(c *playground.Cluster, name string) *playground.Member {
	for _, m := range c.Members() {
		if m.Name == name {
			return m
		}
	}
	return nil
}
