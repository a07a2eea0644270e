package breakglass

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// sums is the sha256 and mode of every file under the dirs, and the set of
// names: a reader that created a lock file would show as well.
func sums(t testing.TB, dirs ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				out[p] = info.Mode().String()
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			h := sha256.New()
			if _, err := io.Copy(h, f); err != nil {
				return err
			}
			out[p] = info.Mode().String() + " " + hex.EncodeToString(h.Sum(nil))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func sameSums(t testing.TB, before, after map[string]string) {
	t.Helper()
	for p, s := range before {
		if after[p] != s {
			t.Errorf("%s changed: %q -> %q", p, s, after[p])
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s appeared", p)
		}
	}
}

func put(t *testing.T, cli *clientv3.Client, prefix string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("%s/%04d", prefix, i), "v")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// waitApplied polls until m has applied at least index.
func waitApplied(t *testing.T, c *playground.Cluster, m *playground.Member, index uint64) {
	t.Helper()
	cli := playgroundtest.Client(t, c, m.ClientURL)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := cli.Status(ctx, m.ClientURL)
		cancel()
		if err == nil && st.RaftAppliedIndex >= index {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not apply index %d: %v", m.Name, index, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func appliedIndex(t *testing.T, c *playground.Cluster, m *playground.Member) uint64 {
	t.Helper()
	cli := playgroundtest.Client(t, c, m.ClientURL)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := cli.Status(ctx, m.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	return st.RaftAppliedIndex
}

// lostQuorum stops three members at different moments with writes between:
// a follower first, then 100 writes later the other follower, then a write
// the lone leader logs but cannot commit, then the leader. It returns the
// members in the order of their data, newest first, and checks the leader
// dir is reported locked while it still runs.
func lostQuorum(t *testing.T) (*playground.Cluster, []*playground.Member) {
	t.Helper()
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	ctx := context.Background()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var followers []*playground.Member
	for _, m := range c.Members() {
		if m != leader {
			followers = append(followers, m)
		}
	}
	cli := playgroundtest.Client(t, c, leader.ClientURL)
	put(t, cli, "/before", 50)
	if err := followers[0].Stop(); err != nil {
		t.Fatal(err)
	}
	put(t, cli, "/between", 100)
	waitApplied(t, c, followers[1], appliedIndex(t, c, leader))
	if err := followers[1].Stop(); err != nil {
		t.Fatal(err)
	}

	// The leader is alone and still running: its dir is held.
	r, err := Survivors([]string{leader.DataDir(), followers[1].DataDir(), followers[0].DataDir()})
	if err != nil {
		t.Fatal(err)
	}
	held := r.Dirs[len(r.Dirs)-1]
	if held.DataDir != leader.DataDir() || !held.Locked || held.Rank != 0 {
		t.Fatalf("running leader not reported as locked and unranked: %+v", held)
	}
	if r.Best != followers[1].DataDir() {
		t.Fatalf("best = %s, want the follower stopped last %s", r.Best, followers[1].DataDir())
	}

	// A write the leader appends to its log but cannot commit.
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = cli.Put(wctx, "/uncommitted", "v")
	cancel()
	if err == nil {
		t.Fatal("a put without quorum succeeded")
	}
	if err := leader.Stop(); err != nil {
		t.Fatal(err)
	}
	return c, []*playground.Member{leader, followers[1], followers[0]}
}

func TestSurvivorsRanksStoppedMembersReadOnly(t *testing.T) {
	_, order := lostQuorum(t)
	var dirs []string
	for i := len(order) - 1; i >= 0; i-- { // oldest first: the order given must not matter
		dirs = append(dirs, order[i].DataDir())
	}
	before := sums(t, dirs...)
	start := time.Now()
	r, err := Survivors(dirs)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	sameSums(t, before, sums(t, dirs...))
	t.Logf("survivors on 3 dirs took %s", took)
	for i, d := range r.Dirs {
		t.Logf("rank %d %s: %+v", d.Rank, d.DataDir, *d)
		if d.DataDir != order[i].DataDir() || d.Rank != i+1 {
			t.Fatalf("position %d: %s rank %d, want %s rank %d", i, d.DataDir, d.Rank, order[i].DataDir(), i+1)
		}
		if !d.Usable() || d.MemberID == "" || d.ClusterID != r.ClusterID || d.Name != order[i].Name || d.DBSizeBytes == 0 || d.Revision == 0 || d.ConsistentIndex == 0 {
			t.Fatalf("%s read incompletely: %+v", d.DataDir, *d)
		}
		if len(d.Members) != 3 {
			t.Fatalf("%s: members %v, want 3", d.DataDir, d.Members)
		}
		if i > 0 && d.WALLastIndex >= r.Dirs[i-1].WALLastIndex {
			t.Fatalf("%s last index %d not below %s's %d", d.DataDir, d.WALLastIndex, r.Dirs[i-1].DataDir, r.Dirs[i-1].WALLastIndex)
		}
	}
	newest, oldest := r.Dirs[0], r.Dirs[2]
	if newest.WALLastIndex <= newest.Committed {
		t.Fatalf("the leader's uncommitted entry is not past its commit: last %d committed %d", newest.WALLastIndex, newest.Committed)
	}
	if oldest.Behind < 100 || oldest.Revision+100 > newest.Revision {
		t.Fatalf("the member stopped first lacks %d entries, revision %d vs %d: want ≥ 100 behind", oldest.Behind, oldest.Revision, newest.Revision)
	}
	if r.Dirs[1].Behind != 0 {
		t.Fatalf("the follower stopped last holds every committed entry, yet is %d behind", r.Dirs[1].Behind)
	}
}

// copyDir copies a stopped member's data dir for a test to damage.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "data")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestSurvivorsReportsBadDirsAndRanksTheRest(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	put(t, playgroundtest.Client(t, c), "/k", 20)
	m := c.Member(0)
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	good := m.DataDir()

	empty := t.TempDir()
	noBolt := copyDir(t, good)
	if err := os.Remove(filepath.Join(noBolt, "member/snap/db")); err != nil {
		t.Fatal(err)
	}
	truncated := copyDir(t, good)
	wals, _ := filepath.Glob(filepath.Join(truncated, "member/wal/*.wal"))
	if len(wals) == 0 {
		t.Fatal("no WAL file")
	}
	if err := os.Truncate(wals[len(wals)-1], 3000); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "nope")

	dirs := []string{empty, noBolt, good, truncated, missing}
	before := sums(t, dirs[:4]...)
	r, err := Survivors(dirs)
	if err != nil {
		t.Fatal(err)
	}
	sameSums(t, before, sums(t, dirs[:4]...))
	want := map[string]string{empty: "not an etcd data dir", noBolt: "no bolt file", truncated: "WAL truncated", missing: "no such file"}
	for _, d := range r.Dirs {
		t.Logf("%s: rank %d problems %q", d.DataDir, d.Rank, d.Problems)
		if d.DataDir == good {
			if d.Rank != 1 || r.Best != good {
				t.Fatalf("the good dir is not ranked first: %+v", *d)
			}
			continue
		}
		if d.Rank != 0 || !containsProblem(d.Problems, want[d.DataDir]) {
			t.Errorf("%s: rank %d problems %q, want unranked with %q", d.DataDir, d.Rank, d.Problems, want[d.DataDir])
		}
	}
}

func containsProblem(ps []string, sub string) bool {
	for _, p := range ps {
		if sub != "" && strings.Contains(p, sub) {
			return true
		}
	}
	return false
}

func TestSurvivorsRefusesDirsOfDifferentClusters(t *testing.T) {
	a := playgroundtest.Start(t, playground.Options{Members: 1, Token: "cluster-a"})
	b := playgroundtest.Start(t, playground.Options{Members: 1, Token: "cluster-b"})
	for _, c := range []*playground.Cluster{a, b} {
		if err := c.Member(0).Stop(); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Survivors([]string{a.Member(0).DataDir(), b.Member(0).DataDir()})
	if !errors.Is(err, ErrClusterMismatch) || !errors.Is(fault.Kind(err), fault.Invalid) {
		t.Fatalf("err = %v, want a cluster mismatch marked invalid", err)
	}
	for _, d := range []string{a.Member(0).DataDir(), b.Member(0).DataDir()} {
		if !strings.Contains(err.Error(), d) {
			t.Errorf("error does not name %s: %v", d, err)
		}
	}
}
