package snapshot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
	snap "github.com/etcdmedic/etcdmedic/snapshot"
)

// saveN saves n snapshots into dir, each at a new revision, oldest first.
func saveN(t *testing.T, c *playground.Cluster, dir string, n int) []string {
	t.Helper()
	cli := playgroundtest.Client(t, c)
	var paths []string
	for i := 0; i < n; i++ {
		if _, err := cli.Put(context.Background(), "/trust/rev", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, save(t, env(c), dir).Save.Path)
	}
	return paths
}

type pruneJSON struct {
	Decisions []struct {
		Path    string
		Keep    bool
		State   string
		Future  bool
		Reasons []string
	}
	Deleted  []string
	DryRun   bool
	Warnings []string
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// The newest snapshot was damaged after save verified it (same size, so its
// metadata still reads "verified"): prune must not lean on it and delete
// every intact one. It rechecks the snapshot it relies on, finds it
// changed, says so, and keeps the next one, whose bytes are still right.
func TestPruneRechecksNewestVerified(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 100, PodPadding: 200})
	dir := t.TempDir()
	paths := saveN(t, c, dir, 3)
	fi, err := os.Stat(paths[2])
	if err != nil {
		t.Fatal(err)
	}
	flip(t, paths[2], fi.Size()/2)

	check := func(t *testing.T, r clitest.Result, dry bool) {
		t.Helper()
		var pr pruneJSON
		if err := json.Unmarshal([]byte(r.Stdout), &pr); err != nil {
			t.Fatalf("prune output: %v", err)
		}
		if r.Code != 1 {
			t.Errorf("exit %d, want 1 (a snapshot changed since it was verified)", r.Code)
		}
		if !slices.Equal(pr.Deleted, paths[:1]) || pr.DryRun != dry {
			t.Fatalf("deleted %v (dry run %v), want only the oldest %s", pr.Deleted, pr.DryRun, paths[0])
		}
		if len(pr.Warnings) != 1 || !strings.Contains(pr.Warnings[0], filepath.Base(paths[2])) || !strings.Contains(pr.Warnings[0], "sha256") {
			t.Errorf("warnings %q: want one naming the damaged %s and its sha256", pr.Warnings, filepath.Base(paths[2]))
		}
		for _, d := range pr.Decisions {
			if d.Path == paths[1] && (!d.Keep || !slices.Contains(d.Reasons, "newest verified")) {
				t.Errorf("%s: keep %v %v, want kept as the newest verified", d.Path, d.Keep, d.Reasons)
			}
			if d.Path == paths[2] && d.State != snap.StateMismatch {
				t.Errorf("the damaged snapshot's state is %q, want %q", d.State, snap.StateMismatch)
			}
		}
	}
	t.Run("dry run", func(t *testing.T) {
		check(t, clitest.Run(t, nil, "snapshot", "prune", dir, "--keep-last", "1", "-o", "json"), true)
	})
	t.Run("table says why", func(t *testing.T) {
		r := clitest.Run(t, nil, "snapshot", "prune", dir, "--keep-last", "1")
		if r.Code != 1 || !strings.Contains(r.Stdout, "not counted as verified") {
			t.Fatalf("exit %d; want 1 and the warning in the table output", r.Code)
		}
		// The warning's command names the snapshot, so it runs as printed.
		if want := "to see why: etcdmedic snapshot verify " + paths[2]; !strings.Contains(r.Stdout, want) {
			t.Fatalf("table output %q; want %q", r.Stdout, want)
		}
	})
	t.Run("yes", func(t *testing.T) {
		check(t, clitest.Run(t, nil, "snapshot", "prune", dir, "--keep-last", "1", "--yes", "-o", "json"), false)
		if exists(paths[0]) || !exists(paths[1]) || !exists(paths[2]) {
			t.Fatalf("left: oldest %v, intact %v, damaged %v; want the intact and the damaged one", exists(paths[0]), exists(paths[1]), exists(paths[2]))
		}
		// What was kept as the newest verified one really is intact.
		if r := clitest.Run(t, nil, "snapshot", "verify", paths[1]); r.Code != 0 {
			t.Fatalf("verify of the kept snapshot: exit %d", r.Code)
		}
	})

	// The metrics file's "last success" leans on the same metadata: after a
	// failed save it must name the newest snapshot that is still intact, an
	// hour old here, not the damaged one saved just now.
	t.Run("metrics after a failed save", func(t *testing.T) {
		dir2 := t.TempDir()
		hourAgo := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
		copyDated(t, paths[1], dir2, hourAgo)
		damaged := copyDated(t, paths[2], dir2, time.Now().UTC().Truncate(time.Millisecond))
		if r := clitest.Run(t, nil, "snapshot", "verify", damaged); r.Code != 2 {
			t.Fatalf("verify of the damaged copy: exit %d, want 2", r.Code)
		}
		metrics := filepath.Join(t.TempDir(), "snap.prom")
		r := clitest.Run(t, env(c), "snapshot", "save", dir2, "--from", "no-such-member", "--metrics-file", metrics)
		if r.Code != 4 {
			t.Fatalf("exit %d, want 4 (no such source member)", r.Code)
		}
		if got := lastSuccess(t, metrics); !got.Equal(hourAgo.Truncate(time.Second)) {
			t.Errorf("last success %s, want %s (the intact snapshot)", got, hourAgo)
		}
	})
}

// copyDated copies a snapshot and its metadata into dir under the name (and
// metadata time) of another instant, as a save at that time would have.
func copyDated(t *testing.T, src, dir string, at time.Time) string {
	t.Helper()
	n, ok := snap.ParseName(filepath.Base(src))
	if !ok {
		t.Fatalf("%s is not a snapshot name", src)
	}
	var id uint64
	fmt.Sscanf(n.ClusterID, "%x", &id)
	dst := filepath.Join(dir, snap.FileName(id, n.Revision, at, n.Compressed))
	copyFile(t, src, dst)
	var meta map[string]any
	b, err := os.ReadFile(snap.MetaPath(src))
	if err != nil || json.Unmarshal(b, &meta) != nil {
		t.Fatalf("metadata of %s: %v", src, err)
	}
	meta["created"], meta["file"] = at.Format(time.RFC3339Nano), filepath.Base(dst)
	b, _ = json.Marshal(meta)
	if err := os.WriteFile(snap.MetaPath(dst), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

func lastSuccess(t *testing.T, metrics string) time.Time {
	t.Helper()
	f, err := os.Open(metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(f)
	if err != nil {
		t.Fatal(err)
	}
	fam, ok := fams["etcdmedic_snapshot_last_success_timestamp_seconds"]
	if !ok {
		t.Fatal("no etcdmedic_snapshot_last_success_timestamp_seconds in the metrics file")
	}
	return time.Unix(int64(fam.GetMetric()[0].GetGauge().GetValue()), 0).UTC()
}

// A host whose clock ran a day ahead saved a snapshot: its name and its
// metadata both say tomorrow. The next save with --prune-keep-last 1 must
// keep what it just saved (the old code kept tomorrow's and deleted it),
// keep tomorrow's too (its age is unknown), say so, and not report
// tomorrow as the last success to the staleness alert.
func TestPruneFutureDatedSnapshot(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 100, PodPadding: 200})
	dir := t.TempDir()

	t.Run("a missing --metrics-file directory is found before the save", func(t *testing.T) {
		r := clitest.Run(t, env(c), "snapshot", "save", dir, "--metrics-file", filepath.Join(dir, "no-such-dir", "snap.prom"))
		if r.Code != 64 || !strings.HasPrefix(r.Stderr, "Error: ") || !strings.Contains(strings.Split(r.Stderr, "\n")[0], "no-such-dir") {
			t.Fatalf("exit %d, stderr %q; want 64 and one line naming the directory", r.Code, r.Stderr)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "etcd-*")); len(left) > 0 {
			t.Fatalf("the run saved %v before failing", left)
		}
	})

	first := saveN(t, c, dir, 1)[0]
	tomorrow := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Millisecond)
	future := copyDated(t, first, dir, tomorrow)
	// Its bytes and metadata agree: it is a good snapshot with a wrong time.
	if r := clitest.Run(t, nil, "snapshot", "verify", future); r.Code != 0 {
		t.Fatalf("verify of the future-dated copy: exit %d", r.Code)
	}

	if _, err := playgroundtest.Client(t, c).Put(context.Background(), "/trust/rev", "new"); err != nil {
		t.Fatal(err)
	}
	metrics := filepath.Join(t.TempDir(), "snap.prom")
	// --max-lag at its largest is "any lag": it must not wrap into "every member lags".
	r := clitest.Run(t, env(c), "snapshot", "save", dir, "-o", "json", "--prune-keep-last", "1", "--metrics-file", metrics,
		"--max-lag", fmt.Sprint(uint64(math.MaxUint64)))
	var out struct {
		Save  struct{ Path string }
		Prune pruneJSON
		Error string
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("save output: %v", err)
	}
	if r.Code != 1 || !strings.Contains(out.Error, "ahead of this clock") {
		t.Errorf("exit %d, error %q; want 1 saying a snapshot is dated ahead of the clock", r.Code, out.Error)
	}
	if out.Save.Path == "" || !exists(out.Save.Path) {
		t.Fatalf("the snapshot just saved (%q) is gone", out.Save.Path)
	}
	if !slices.Equal(out.Prune.Deleted, []string{first}) || !exists(future) {
		t.Fatalf("deleted %v (future-dated one left: %v); want only %s", out.Prune.Deleted, exists(future), first)
	}
	for _, d := range out.Prune.Decisions {
		if d.Path == future && (!d.Future || !d.Keep) {
			t.Errorf("future-dated decision %+v: want kept and marked future", d)
		}
		if d.Path == out.Save.Path && !slices.Contains(d.Reasons, "newest verified") {
			t.Errorf("the saved snapshot's reasons %v: want newest verified", d.Reasons)
		}
	}
	if len(out.Prune.Warnings) != 1 || !strings.Contains(out.Prune.Warnings[0], filepath.Base(future)) {
		t.Errorf("warnings %q: want one naming %s", out.Prune.Warnings, filepath.Base(future))
	}

	if last := lastSuccess(t, metrics); time.Since(last) < 0 || time.Since(last) > time.Hour {
		t.Errorf("last success reported at %s; want the save just made, not the future-dated file", last)
	}

	lr := clitest.Run(t, nil, "snapshot", "list", dir, "-o", "json")
	var ls struct {
		Snapshots []struct {
			Path   string
			Future bool
		}
	}
	if err := json.Unmarshal([]byte(lr.Stdout), &ls); err != nil {
		t.Fatal(err)
	}
	for _, e := range ls.Snapshots {
		if e.Future != (e.Path == future) {
			t.Errorf("list: %s future=%v", e.Path, e.Future)
		}
	}
}

// Every field of the metadata that verify recomputes is compared: an
// edited one is a failed verification (exit 2, metadata "mismatch"), never
// "metadata ok" beside a problem, and never a pass. restore, which
// verifies first, refuses the same files.
func TestVerifyComparesEveryRecordedField(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 100, ConfigMaps: 20, PodPadding: 200})
	dir := t.TempDir()
	plain := save(t, env(c), dir).Save.Path
	zst := save(t, env(c), dir, "--compress").Save.Path
	for _, p := range []string{plain, zst} {
		if r := clitest.Run(t, nil, "snapshot", "verify", p); r.Code != 0 || !strings.Contains(r.Stdout, "metadata ok") {
			t.Fatalf("verify of an untouched %s: exit %d", p, r.Code)
		}
	}

	bump := func(v any) any { return v.(float64) + 1 }
	hexFlip := func(v any) any {
		s := []byte(v.(string))
		if s[0] == '0' {
			s[0] = '1'
		} else {
			s[0] = '0'
		}
		return string(s)
	}
	cases := []struct {
		file  string
		field string
		edit  func(any) any
	}{
		{plain, "dbSha256", hexFlip},
		{plain, "dbSize", bump},
		{plain, "totalKeys", bump},
		{plain, "revision", bump},
		{plain, "raftIndex", bump},
		{plain, "raftTerm", bump},
		{plain, "storageVersion", func(any) any { return "3.4.0" }},
		{plain, "size", bump},
		{plain, "sha256", hexFlip},
		{plain, "clusterId", func(any) any { return "00000000000000aa" }},
		{zst, "dbSha256", hexFlip},
		{zst, "dbSize", bump},
		{zst, "totalKeys", bump},
		{zst, "compression", func(any) any { return "" }},
	}
	for _, tc := range cases {
		t.Run(filepath.Ext(tc.file)+" "+tc.field, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), filepath.Base(tc.file))
			copyFile(t, tc.file, p)
			var meta map[string]any
			b, err := os.ReadFile(snap.MetaPath(tc.file))
			if err != nil || json.Unmarshal(b, &meta) != nil {
				t.Fatalf("metadata: %v", err)
			}
			if _, ok := meta[tc.field]; !ok {
				t.Fatalf("metadata has no %s: %s", tc.field, b)
			}
			meta[tc.field] = tc.edit(meta[tc.field])
			b, _ = json.Marshal(meta)
			if err := os.WriteFile(snap.MetaPath(p), b, 0o600); err != nil {
				t.Fatal(err)
			}
			r := clitest.Run(t, nil, "snapshot", "verify", p)
			if r.Code != 2 || !strings.Contains(r.Stdout, "metadata mismatch") || strings.Contains(r.Stdout, "metadata ok") {
				t.Fatalf("exit %d; want 2 with metadata mismatch", r.Code)
			}
			// The edited field names itself (the cluster ID is in the name).
			want := tc.field
			if tc.field == "clusterId" {
				want = "cluster ID"
			}
			if strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 || !strings.Contains(r.Stderr, want) {
				t.Errorf("stderr %q: want one line naming %s", r.Stderr, want)
			}
			dataDir := filepath.Join(t.TempDir(), "restored")
			if r := clitest.Run(t, nil, "snapshot", "restore", p, "--data-dir", dataDir); r.Code != 2 || exists(dataDir) {
				t.Fatalf("restore: exit %d, data dir written %v; want 2 and nothing written", r.Code, exists(dataDir))
			}
		})
	}
}
