package member_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// benchBasePort is where the benchmarks' seeded playground listens: fixed,
// because the member list stored in the cached data dirs names these URLs,
// and below the kernel's ephemeral range, where the other tests' free
// ports come from.
const benchBasePort = 29370

// benchMB is the database size the member benchmarks use: BENCH_MEMBER_DB_MB,
// default 500.
func benchMB() int {
	if v, err := strconv.Atoi(os.Getenv("BENCH_MEMBER_DB_MB")); err == nil && v > 0 {
		return v
	}
	return 500
}

// benchCluster starts a 3-member playground holding mb MiB of 1 MiB values
// under /bench/. Seeding 500 MB through raft takes minutes on a small
// machine, so the seeded data dirs are kept under the etcdmedic cache
// (bench-member/<mb>MB) and each run starts from a copy of them.
func benchCluster(b *testing.B, mb int) *playground.Cluster {
	b.Helper()
	cacheRoot := os.Getenv("ETCDMEDIC_CACHE")
	if cacheRoot == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			b.Fatal(err)
		}
		cacheRoot = filepath.Join(home, ".cache", "etcdmedic")
	}
	cache := filepath.Join(cacheRoot, "bench-member", fmt.Sprintf("%dMB", mb))
	dir := filepath.Join(b.TempDir(), "pg")
	opts := playground.Options{Members: 3, QuotaBytes: int64(mb+512) << 20, Dir: dir, BasePort: benchBasePort, StartTimeout: 2 * time.Minute}
	if peerLog() {
		// etcd logs a peer's stream becoming active only at info.
		opts.Config = map[string]any{"log-level": "info"}
	}
	if _, err := os.Stat(filepath.Join(cache, "seeded")); err == nil {
		copyDir(b, filepath.Join(cache, "pg"), dir)
		c := playgroundtest.Start(b, opts)
		playgroundtest.WaitQuiet(b, c)
		warmUp(b, c)
		return c
	}
	c := playgroundtest.Start(b, opts)
	cli := playgroundtest.Client(b, c)
	value := strings.Repeat("v", 1<<20)
	for i := 0; i < mb; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("/bench/%05d", i), value)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	playgroundtest.WaitQuiet(b, c)
	if err := c.Stop(); err != nil {
		b.Fatal(err)
	}
	tmp := cache + ".tmp"
	os.RemoveAll(tmp)
	copyDir(b, dir, filepath.Join(tmp, "pg"))
	if err := os.WriteFile(filepath.Join(tmp, "seeded"), nil, 0o600); err != nil {
		b.Fatal(err)
	}
	os.RemoveAll(cache)
	if err := os.Rename(tmp, cache); err != nil {
		b.Fatal(err)
	}
	c = playgroundtest.Start(b, opts)
	playgroundtest.WaitQuiet(b, c)
	warmUp(b, c)
	return c
}

// warmUp adds a learner that never starts and removes it again, untimed:
// etcd refuses every member add ("unhealthy cluster") until the voters
// have been connected to each other for 5 s, and a cluster just started
// would charge that wait to whichever contender goes first (etcdctl would
// fail outright). member add retries until etcd takes it.
func warmUp(b *testing.B, c *playground.Cluster) {
	b.Helper()
	_, peerURL := newURLs(b, c)
	res := clitest.Run(b, nil, "member", "add", "warmup", "--peer-urls", peerURL, "--yes", "-o", "json", "--endpoints", endpoints(c))
	var added struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &added); err != nil || res.Code != 0 {
		b.Fatalf("warm-up add: exit %d %v\n%s", res.Code, err, res.Stderr)
	}
	if res := clitest.Run(b, nil, "member", "remove", added.ID, "--yes", "--endpoints", endpoints(c)); res.Code != 0 {
		b.Fatalf("warm-up remove: exit %d\n%s", res.Code, res.Stderr)
	}
}

func copyDir(b *testing.B, from, to string) {
	b.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		b.Fatalf("copy %s: %v\n%s", from, err, out)
	}
}
