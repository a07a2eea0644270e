package inventory_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/inventory"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// BenchmarkInventoryMillionKeys seeds 1,000,000 keys and measures, in the
// same run, peak RSS and wall time of
//
//	etcdmedic inventory --keys-only -o json   (paged, pinned revision)
//	etcdmedic inventory -o json               (values too: byte sizes)
//	etcdctl get "" --prefix --keys-only      (etcd v3.7.3, one range request)
//
// The first two alternate BENCH_ROUNDS times (default 3). Run it with
// go test ./commands/inventory -run XXX -bench MillionKeys -benchtime 1x -timeout 30m
// (scripts/bench-inventory.sh is the side-by-side run on a real cluster's
// layout, with etcd's CPU time).
func BenchmarkInventoryMillionKeys(b *testing.B) {
	const keys = 1_000_000
	resources := []string{"pods", "events", "configmaps", "leases", "secrets"}
	c := playgroundtest.Start(b, playground.Options{Members: 1})
	cli := playgroundtest.Client(b, c)
	seedStart := time.Now()
	seedFlat(b, cli, keys, resources)
	b.Logf("seeded %d keys in %s", keys, time.Since(seedStart).Round(time.Second))

	bin := filepath.Join(b.TempDir(), "etcdmedic")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/etcdmedic").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	// etcdctl of the etcd version go.mod links, as scripts/build-etcd.sh
	// builds it (scripts/bench-inventory.sh builds it when missing).
	cache := os.Getenv("ETCDMEDIC_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			b.Fatal(err)
		}
		cache = filepath.Join(home, ".cache", "etcdmedic")
	}
	etcdctl := filepath.Join(cache, "etcd", benchEtcdVersion, "bin", "etcdctl")
	if _, err := os.Stat(etcdctl); err != nil {
		b.Fatalf("no etcdctl %s: run scripts/build-etcd.sh %s (or scripts/bench-inventory.sh)", benchEtcdVersion, benchEtcdVersion)
	}
	ep := c.Endpoints()[0]
	// etcdctl sends one unpaged range: give it the time it needs (its default
	// --command-timeout is 5 s), so that it is measured, not cut off.
	ctlArgs := []string{"get", "", "--prefix", "--keys-only", "--command-timeout", "10m", "--endpoints", ep}
	check := func(out []byte) {
		var r inventory.Report
		if err := json.Unmarshal(out, &r); err != nil {
			b.Fatal(err)
		}
		if r.Keys != keys {
			b.Fatalf("inventory counted %d keys, want %d", r.Keys, keys)
		}
		if len(r.Resources) != len(resources) {
			b.Fatalf("%d resources, want %d", len(r.Resources), len(resources))
		}
		for _, ru := range r.Resources {
			if ru.Keys != keys/int64(len(resources)) {
				b.Fatalf("%s: %d keys, want %d", ru.Resource, ru.Keys, keys/len(resources))
			}
		}
	}
	// The machine is shared: the two tools run alternately, rounds times, and
	// each is credited with its best wall time (the least disturbed run) and
	// its highest peak RSS.
	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var ko, ctl measurement
		for r := 0; r < rounds; r++ {
			k, out := measure(b, bin, "inventory", "--keys-only", "-o", "json", "--endpoints", ep)
			check(out)
			e, _ := measure(b, etcdctl, ctlArgs...)
			b.Logf("round %d: keys-only %.1f MB %s; etcdctl %.1f MB %s", r+1, k.rssMB, k.wall.Round(time.Millisecond), e.rssMB, e.wall.Round(time.Millisecond))
			ko, ctl = ko.best(k), ctl.best(e)
		}
		full, fullOut := measure(b, bin, "inventory", "-o", "json", "--endpoints", ep)
		check(fullOut)
		b.ReportMetric(ko.rssMB, "keysonly-rss-MB")
		b.ReportMetric(full.rssMB, "full-rss-MB")
		b.ReportMetric(ctl.rssMB, "etcdctl-rss-MB")
		b.ReportMetric(ko.wall.Seconds(), "keysonly-s")
		b.ReportMetric(full.wall.Seconds(), "full-s")
		b.ReportMetric(ctl.wall.Seconds(), "etcdctl-s")
		b.Logf("keys-only: %.1f MB RSS, %s; full (values too, once): %.1f MB, %s; etcdctl: %.1f MB, %s; RSS ratio %.2f (target <= 0.25), wall ratio %.2f (target <= 1.25)",
			ko.rssMB, ko.wall.Round(time.Millisecond), full.rssMB, full.wall.Round(time.Millisecond), ctl.rssMB, ctl.wall.Round(time.Millisecond),
			ko.rssMB/ctl.rssMB, ko.wall.Seconds()/ctl.wall.Seconds())
	}
}

// benchEtcdVersion is the etcd module version go.mod links.
const benchEtcdVersion = "v3.7.3"

type measurement struct {
	rssMB float64
	wall  time.Duration
}

// best keeps the highest RSS and the shortest wall time of two runs.
func (m measurement) best(o measurement) measurement {
	if m.wall == 0 {
		return o
	}
	return measurement{rssMB: max(m.rssMB, o.rssMB), wall: min(m.wall, o.wall)}
}

// measure runs a command to completion and reads its peak RSS from the kernel.
func measure(b *testing.B, name string, args ...string) (measurement, []byte) {
	b.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout = &out
	if strings.HasSuffix(name, "etcdctl") {
		cmd.Stdout = io.Discard
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v\n%s", name, err, stderr.String())
	}
	wall := time.Since(start)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return measurement{rssMB: float64(ru.Maxrss) / 1024, wall: wall}, out.Bytes()
}

// seedFlat writes small values fast: n keys spread evenly over resources and 50 namespaces.
func seedFlat(b *testing.B, cli *clientv3.Client, n int, resources []string) {
	b.Helper()
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for start := range work {
				ops := make([]clientv3.Op, 0, 128)
				for i := start; i < start+128 && i < n; i++ {
					res := resources[i%len(resources)]
					ops = append(ops, clientv3.OpPut(fmt.Sprintf("/registry/%s/ns-%02d/obj-%07d", res, (i/len(resources))%50, i), "v0123456789abcdef0123456789abcdef"))
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				_, err := cli.Txn(ctx).Then(ops...).Commit()
				cancel()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i += 128 {
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
}
