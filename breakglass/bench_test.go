package breakglass

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// BenchmarkPurge200k is the acceptance run and benchmark in one
// (scripts/bench-purge.sh): 200,000 pods plus decoys on a one-member
// playground, then on the same data, restoring between runs:
//
//	ours-inprocess  Purge, rate unlimited, with a pod modified between read and delete
//	reference       a plain paged keys-only read + unconditional deletes in 128-op txns
//	cli             etcdmedic breakglass purge-pods --yes --rate 0, a child process (peak RSS)
//	per-request     one Delete RPC per key, on the first 5,000 keys
//
// Exactly the matching pods must go, every decoy and non-matching pod must
// survive, the modified pod must survive, and undo must restore the rest.
func BenchmarkPurge200k(b *testing.B) {
	const pods = 200000
	c := playgroundtest.Start(b, playground.Options{Members: 1, QuotaBytes: 8 << 30})
	cli := playgroundtest.Client(b, c)
	k := kvConn{cli: cli, deadline: timeout(time.Minute), page: time.Minute}
	t0 := time.Now()
	before, _ := seedPurge(b, cli, pods)
	b.Logf("seeded %d keys in %s", len(before), time.Since(t0).Round(time.Second))
	phases, _ := ParsePhases("Succeeded,Failed")
	sel, _ := ParseSelector("tier!=web")
	filter := PodFilter{Phases: phases, Selector: sel}
	want := map[string]bool{}
	var wantKeys []string
	for k := range before {
		var ns string
		var i int
		if n, _ := fmt.Sscanf(k, "/registry/pods/%5s/pod-%06d", &ns, &i); n == 2 {
			if p := playground.PodPhaseFor(i); (p == corev1.PodSucceeded || p == corev1.PodFailed) && i%3 != 0 {
				want[k] = true
				wantKeys = append(wantKeys, k)
			}
		}
	}
	b.Logf("%d pods match", len(want))
	ctx := context.Background()
	dir := b.TempDir()
	archive := filepath.Join(dir, "bench.archive")
	// settle compacts and defragments, so every contender starts from the
	// same state: without it each purge-and-restore leaves more revisions
	// and free pages behind, and whoever runs later pays for them.
	settle := func() {
		resp, err := cli.Get(ctx, "compact-probe")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
			b.Fatal(err)
		}
		dctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		if _, err := cli.Defragment(dctx, c.Endpoints()[0]); err != nil {
			b.Fatal(err)
		}
		syscall.Sync()
	}
	restore := func() {
		res, err := restoreArchive(ctx, k, archive)
		if err != nil {
			b.Fatal(err)
		}
		if got := len(dumpAll(b, cli)); got != len(before) {
			b.Fatalf("after restore %d keys, want %d (%+v)", got, len(before), res)
		}
		settle()
	}

	settle()

	// 1. Ours, in process, with the ModRevision guard exercised.
	var touched string
	t1 := time.Now()
	rep, err := purge(ctx, k, PurgeOptions{Filter: filter, Archive: archive, PageSize: 1000,
		BeforeDelete: func(ctx context.Context) error {
			touched = wantKeys[len(wantKeys)/2]
			_, err := cli.Put(ctx, touched, before[touched])
			return err
		}})
	ours := time.Since(t1)
	if err != nil {
		b.Fatal(err)
	}
	after := dumpAll(b, cli)
	bad := 0
	for k, v := range before {
		_, present := after[k]
		if (want[k] && k != touched && present) || (k == touched && !present) || (!want[k] && after[k] != v) {
			bad++
		}
	}
	if bad > 0 || rep.Deleted != len(want)-1 || rep.Changed != 1 || rep.Encrypted != 1 || rep.Undecodable != 3 {
		b.Fatalf("%d keys wrong; deleted %d changed %d encrypted %d undecodable %d", bad, rep.Deleted, rep.Changed, rep.Encrypted, rep.Undecodable)
	}
	restore() // this is undo's restore: every purged pod back, values checked below
	for k, v := range dumpAll(b, cli) {
		if before[k] != v {
			b.Fatalf("%s restored with other content", k)
		}
	}

	// 2. The reference: paged keys-only read, unconditional deletes, 128 per txn.
	t2 := time.Now()
	n := referencePagedDelete(b, cli, want)
	ref := time.Since(t2)
	if n != len(want) {
		b.Fatalf("reference deleted %d", n)
	}
	restore()

	// 3. The CLI as a separate process: wall time and peak RSS.
	bin := filepath.Join(dir, "etcdmedic")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/etcdmedic").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "breakglass", "purge-pods", "--yes", "--rate", "0", "--selector", "tier!=web",
		"--root", dir, "--state-dir", "/state", "--page-size", "1000", "-o", "json")
	cmd.Env = append(os.Environ(), "ETCDCTL_ENDPOINTS="+strings.Join(c.Endpoints(), ","))
	var stdout strings.Builder
	cmd.Stdout = &stdout
	t3 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	hwm := make(chan float64)
	stop := make(chan struct{})
	go func() { hwm <- pollVmHWM(cmd.Process.Pid, stop) }()
	err = cmd.Wait()
	cliTook := time.Since(t3)
	close(stop)
	rssMB := <-hwm
	out := []byte(stdout.String())
	if err != nil {
		b.Fatalf("cli: %v\n%s", err, out)
	}
	var cliRep PurgeReport
	if err := json.Unmarshal(out, &cliRep); err != nil || cliRep.Deleted != len(want) {
		b.Fatalf("cli deleted %d, want %d (%v)", cliRep.Deleted, len(want), err)
	}
	restore()

	// 4. One delete per request, on a sample.
	sample := wantKeys[:5000]
	t4 := time.Now()
	for _, k := range sample {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := cli.Delete(dctx, k)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	single := time.Since(t4)
	restore()

	rate := func(keys int, d time.Duration) float64 { return float64(keys) / d.Seconds() }
	oursRate, refRate, cliRate, singleRate := rate(len(want), ours), rate(len(want), ref), rate(len(want), cliTook), rate(len(sample), single)
	b.ReportMetric(oursRate, "ours-keys/s")
	b.ReportMetric(refRate, "ref128-keys/s")
	b.ReportMetric(cliRate, "cli-keys/s")
	b.ReportMetric(singleRate, "single-keys/s")
	b.ReportMetric(oursRate/refRate, "ours/ref128")
	b.ReportMetric(cliRate/refRate, "cli/ref128")
	b.ReportMetric(oursRate/singleRate, "ours/single")
	b.ReportMetric(rssMB, "cli-peak-RSS-MB")
	b.Logf("pods %d matched %d: ours %s (%.0f keys/s), reference 128-op %s (%.0f keys/s), cli %s (%.0f keys/s, peak RSS %.0f MB), one-per-request %.0f keys/s",
		pods, len(want), ours.Round(time.Millisecond), oursRate, ref.Round(time.Millisecond), refRate, cliTook.Round(time.Millisecond), cliRate, rssMB, singleRate)
	if rssMB > 150 {
		b.Errorf("cli peak RSS %.0f MB > 150 MB", rssMB)
	}
}

// referencePagedDelete is the raw limit: page the pod keys (keys only) and
// delete the wanted ones unconditionally in transactions of 128.
func referencePagedDelete(b *testing.B, cli *clientv3.Client, want map[string]bool) int {
	ctx := context.Background()
	prefix := "/registry/pods/"
	end := clientv3.GetPrefixRangeEnd(prefix)
	key, deleted := prefix, 0
	var ops []clientv3.Op
	flush := func() {
		if len(ops) == 0 {
			return
		}
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := cli.Txn(tctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		deleted += len(ops)
		ops = ops[:0]
	}
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(1000), clientv3.WithKeysOnly()}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		gctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := cli.Get(gctx, key, opts...)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		rev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			if want[string(kv.Key)] {
				ops = append(ops, clientv3.OpDelete(string(kv.Key)))
				if len(ops) == MaxTxnOps {
					flush()
				}
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	flush()
	return deleted
}

// pollVmHWM samples the child's peak RSS (VmHWM) until stop. The child's
// ru_maxrss cannot be used: after a vfork-style exec Linux carries the
// parent's peak RSS (this benchmark holds 200k values) into the child's.
func pollVmHWM(pid int, stop <-chan struct{}) float64 {
	var peak float64
	path := fmt.Sprintf("/proc/%d/status", pid)
	for {
		if data, err := os.ReadFile(path); err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					var kb float64
					fmt.Sscanf(strings.TrimSpace(v), "%f", &kb)
					if kb/1024 > peak {
						peak = kb / 1024
					}
				}
			}
		}
		select {
		case <-stop:
			return peak
		case <-time.After(20 * time.Millisecond):
		}
	}
}
