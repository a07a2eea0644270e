//go:build fitnessbench

package health

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestFsyncProbeAgainstFio compares the fdatasync probe with the fio run
// etcd's docs point to, on the same directory in the same run: rounds one
// after the other (alternating which goes first, logged), then side by side,
// where both meet the same load (judged: p99 within ±25 %, no slower). Not part of `go test ./...` (build
// tag fitnessbench): scripts/bench-node-fsync.sh runs it.
func TestFsyncProbeAgainstFio(t *testing.T) {
	dir := os.Getenv("ETCDMEDIC_BENCH_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	if _, err := exec.LookPath("fio"); err != nil {
		t.Fatalf("fio not installed (scripts/test.sh installs it): %v", err)
	}
	const rounds = 4
	var sumRatio, sumTime float64
	for i := range rounds {
		// Alternate which goes first: the disk is shared, and its load drifts.
		var fioP99, fioTook time.Duration
		if i%2 == 0 {
			fioP99, fioTook = runFio(t, dir)
		}
		res, err := ProbeFsync(context.Background(), dir, DefaultFsyncProbe)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			fioP99, fioTook = runFio(t, dir)
		}
		ratio := res.P99.Seconds() / fioP99.Seconds()
		timeRatio := res.Took.Seconds() / fioTook.Seconds()
		sumRatio += ratio
		sumTime += timeRatio
		t.Logf("round %d: probe p50 %s p99 %s p99.9 %s over %d writes in %s; fio p99 %s in %s; p99 ratio %.2f, time ratio %.2f",
			i+1, res.P50, res.P99, res.P999, res.Writes, res.Took.Round(time.Millisecond), fioP99, fioTook.Round(time.Millisecond), ratio, timeRatio)
	}
	// Logged, not judged: two fio runs a minute apart on this shared machine
	// gave p99 4 ms and 23 ms, so rounds one after the other measure the load.
	t.Logf("sequential: mean p99 ratio probe/fio %.2f, mean time ratio %.2f", sumRatio/rounds, sumTime/rounds)

	// The same two side by side: on a shared machine whose load swings from
	// one minute to the next, both then meet the same disk at the same time.
	const sides = 3
	var sumSide, sumSideTime float64
	for i := range sides {
		var fioP99, fioTook time.Duration
		done := make(chan struct{})
		go func() { defer close(done); fioP99, fioTook = runFio(t, dir) }()
		res, err := ProbeFsync(context.Background(), dir, DefaultFsyncProbe)
		<-done
		if err != nil {
			t.Fatal(err)
		}
		ratio, timeRatio := res.P99.Seconds()/fioP99.Seconds(), res.Took.Seconds()/fioTook.Seconds()
		sumSide += ratio
		sumSideTime += timeRatio
		t.Logf("side by side %d: probe p99 %s over %d writes in %s; fio p99 %s in %s; p99 ratio %.2f, time ratio %.2f",
			i+1, res.P99, res.Writes, res.Took.Round(time.Millisecond), fioP99, fioTook.Round(time.Millisecond), ratio, timeRatio)
	}
	mean, meanTime := sumSide/sides, sumSideTime/sides
	t.Logf("side by side: mean p99 ratio probe/fio %.2f, mean time ratio %.2f", mean, meanTime)
	judge := t.Errorf
	if os.Getenv("ETCDMEDIC_BENCH_ASSERT") == "0" {
		// The suite's smoke run of scripts/bench-node-fsync.sh: keep the
		// script working, report the ratios, judge nothing on a loaded machine.
		judge = t.Logf
	}
	if mean < 0.75 || mean > 1.25 {
		judge("probe p99 is %.2f× fio's, want within ±25%%", mean)
	}
	if meanTime > 1.0 {
		judge("probe took %.2f× fio's time, want ≤ 1", meanTime)
	}
}

// runFio runs fio's etcd recipe and returns its fdatasync p99 and wall time.
func runFio(t *testing.T, dir string) (time.Duration, time.Duration) {
	t.Helper()
	start := time.Now()
	out, err := exec.Command("fio", "--rw=write", "--ioengine=sync", "--fdatasync=1", "--directory="+dir,
		"--size=22m", "--bs=2300", "--name=etcdmedic-bench", "--output-format=json").Output()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("fio: %v\n%s", err, out)
	}
	os.Remove(dir + "/etcdmedic-bench.0.0")
	var r struct {
		Jobs []struct {
			Sync struct {
				LatNs struct {
					N          int                `json:"N"`
					Percentile map[string]float64 `json:"percentile"`
				} `json:"lat_ns"`
			} `json:"sync"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Jobs) == 0 {
		t.Fatalf("fio output: %v\n%s", err, out)
	}
	return time.Duration(r.Jobs[0].Sync.LatNs.Percentile["99.000000"]), took
}
