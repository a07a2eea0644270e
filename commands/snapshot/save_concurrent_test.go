package snapshot_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/clitest"
	snapcmd "github.com/etcdmedic/etcdmedic/commands/snapshot"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
	snap "github.com/etcdmedic/etcdmedic/snapshot"
)

// Two saves whose clocks read the same instant, running at the same time
// into one directory, at one revision: two files, both verified, neither
// overwritten; and each printed line's rate times its time is its size.
func TestSaveSameSecondDistinctNames(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 200, ConfigMaps: 20, Events: 100, Leases: 2, PodPadding: 2000})
	dir := t.TempDir()
	frozen := time.Date(2026, 12, 2, 1, 2, 3, 0, time.UTC)

	const n = 2
	outs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		ios, out, _ := iostreams.Test()
		opts := &snapcmd.SaveOptions{
			IO: ios,
			OpenCluster: func() (*cluster.Cluster, error) {
				return cluster.Open(&cluster.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, CommandTimeout: 20 * time.Second}, nil)
			},
			Format: func() output.Format { return output.Table },
			Save:   snap.SaveOptions{Target: dir, StallTimeout: 30 * time.Second, MaxLag: snap.DefaultMaxLag},
			Now:    func() time.Time { return frozen },
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = snapcmd.RunSave(context.Background(), opts)
			outs[i] = out.String()
		}()
	}
	wg.Wait()

	paths := map[string]bool{}
	var revision int64
	for i := range n {
		t.Logf("save %d:\n%s", i, outs[i])
		if errs[i] != nil {
			t.Fatalf("save %d: %v", i, errs[i])
		}
		first, _, _ := strings.Cut(outs[i], "\n")
		path := strings.TrimPrefix(first, "saved ")
		if path == first || paths[path] {
			t.Fatalf("save %d printed %q (paths so far %v)", i, first, paths)
		}
		paths[path] = true
		name, ok := snap.ParseName(filepath.Base(path))
		if !ok || name.Created.Truncate(time.Second) != frozen {
			t.Fatalf("%s: not a snapshot name of %s", path, frozen)
		}
		if revision != 0 && name.Revision != revision {
			t.Fatalf("the saves saw revisions %d and %d; the test needs one", revision, name.Revision)
		}
		revision = name.Revision
		checkRateLine(t, outs[i])
	}
	entries, err := snap.List(dir, frozen)
	if err != nil || len(entries) != n {
		t.Fatalf("list: %v entries (%v), want %d", entries, err, n)
	}
	for p := range paths {
		if r := clitest.Run(t, nil, "snapshot", "verify", p); r.Code != 0 {
			t.Fatalf("verify %s: exit %d", p, r.Code)
		}
		if _, err := os.Stat(snap.MetaPath(p)); err != nil {
			t.Fatalf("%s has no metadata: %v", p, err)
		}
	}
}

var (
	streamedLine = regexp.MustCompile(`streamed ([0-9.]+) (B|KiB|MiB|GiB) in ([0-9.]+)(µs|ms|s) at ([0-9.]+) (B|KiB|MiB|GiB)/s`)
	byteUnits    = map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
	timeUnits    = map[string]float64{"µs": 1e-6, "ms": 1e-3, "s": 1}
)

// checkRateLine reads the size, time and rate a save printed and checks
// they agree within what their rounding for display allows.
func checkRateLine(t *testing.T, out string) {
	t.Helper()
	m := streamedLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no 'streamed <size> in <time> at <rate>/s' line in:\n%s", out)
	}
	num := func(s string) float64 {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	size := num(m[1]) * byteUnits[m[2]]
	secs := num(m[3]) * timeUnits[m[4]]
	rate := num(m[5]) * byteUnits[m[6]]
	if got := rate * secs; math.Abs(got-size) > 0.1*size {
		t.Fatalf("printed %s at %s/s is %.0f bytes, but the size printed is %.0f: %q", m[3]+m[4], m[5]+" "+m[6], got, size, m[0])
	}
}
