// Package playgroundtest starts playground clusters for tests. A test binary
// that uses it must call playground.RunMemberIfRequested from its TestMain:
// members are that binary re-executed.
package playgroundtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/playground"
)

// Start launches a cluster that is stopped when the test ends. When the test
// failed, each member's log tail is printed.
func Start(t testing.TB, opts playground.Options) *playground.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := playground.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start playground: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, m := range c.Members() {
				t.Logf("member %s log tail:\n%s", m.Name, m.LogTail(15))
			}
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stop playground: %v", err)
		}
	})
	return c
}

// Client returns a client over all members, closed when the test ends.
func Client(t testing.TB, c *playground.Cluster, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := c.Client(endpoints...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Seed writes data and fails the test on error.
func Seed(t testing.TB, c *playground.Cluster, opts playground.SeedOptions) playground.SeedResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := playground.Seed(ctx, Client(t, c), opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// Env returns a getenv function over the given variables only, so that the
// developer's own ETCDCTL_* settings never leak into a test.
func Env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// ReleaseBinaries returns the etcd release binaries that scripts/build-etcd.sh
// built, keyed by version ("v3.5.x"), with the etcdctl and etcdutl beside them.
// The compatibility matrix needs one of each of the 3.5, 3.6 and 3.7 lines; a
// missing line fails the test (run scripts/build-etcd.sh, which
// scripts/test.sh does first).
func ReleaseBinaries(t testing.TB) map[string]ReleaseBinary {
	t.Helper()
	cache := CacheDir()
	dirs, _ := filepath.Glob(filepath.Join(cache, "etcd", "v3.*"))
	out := map[string]ReleaseBinary{}
	lines := map[string]bool{}
	for _, d := range dirs {
		b := ReleaseBinary{
			Version: filepath.Base(d),
			Etcd:    filepath.Join(d, "bin", "etcd"),
			Etcdctl: filepath.Join(d, "bin", "etcdctl"),
			Etcdutl: filepath.Join(d, "bin", "etcdutl"),
		}
		if _, err := os.Stat(b.Etcd); err != nil {
			continue
		}
		out[b.Version] = b
		lines[strings.Join(strings.SplitN(b.Version, ".", 3)[:2], ".")] = true
	}
	for _, want := range []string{"v3.5", "v3.6", "v3.7"} {
		if !lines[want] {
			t.Fatalf("no etcd %s.x release binary under %s/etcd: run scripts/build-etcd.sh", want, cache)
		}
	}
	return out
}

// ReleaseBinary is one etcd release built from the Go module proxy.
type ReleaseBinary struct {
	Version                string
	Etcd, Etcdctl, Etcdutl string
}

// FillUntilNospace writes 512 KiB values under /fill/ until etcd raises the
// NOSPACE alarm (start the cluster with a small QuotaBytes).
func FillUntilNospace(t testing.TB, c *playground.Cluster) {
	t.Helper()
	cli := Client(t, c)
	value := strings.Repeat("x", 512<<10)
	for i := 0; i < 1000; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("/fill/%d", i), value)
		cancel()
		if err != nil {
			if !strings.Contains(err.Error(), "database space exceeded") {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("never reached NOSPACE: is QuotaBytes small?")
}

// WaitQuiet polls until no member's database size, in-use size or applied
// index changes between two reads a few backend commit intervals (100 ms)
// apart: after seeding, batched writes are still being committed and
// applied, and a check that judges "healthy" must not see that tail.
func WaitQuiet(t testing.TB, c *playground.Cluster) {
	t.Helper()
	cli := Client(t, c)
	sample := func() string {
		var b strings.Builder
		for _, ep := range c.Endpoints() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			st, err := cli.Status(ctx, ep)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%d/%d/%d ", st.DbSize, st.DbSizeInUse, st.RaftAppliedIndex)
		}
		return b.String()
	}
	prev := sample()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond) // the interval between two samples, not a wait for a condition
		cur := sample()
		if cur == prev {
			return
		}
		prev = cur
	}
	t.Fatal("the cluster never became quiet")
}
