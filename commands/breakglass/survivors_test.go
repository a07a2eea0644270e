package breakglass_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestSurvivorsFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"breakglass", "survivors"},
		{"breakglass", "survivors", "--data-dir", "/a", "--root", "/b"},
		{"breakglass", "survivors", "extra"},
	} {
		r := clitest.Run(t, noEtcd, args...)
		if r.Code != 64 || r.Stdout != "" {
			t.Errorf("%v: exit %d, stdout %q; want 64 and nothing on stdout", args, r.Code, r.Stdout)
		}
	}
}

// copyTree copies a stopped member's data dir to where a root's etcd
// manifest says it lives.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
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
}

func TestSurvivorsOnRootsAndMixedClusters(t *testing.T) {
	a := playgroundtest.Start(t, playground.Options{Members: 1, Token: "survivors-a"})
	b := playgroundtest.Start(t, playground.Options{Members: 1, Token: "survivors-b"})
	for _, c := range []*playground.Cluster{a, b} {
		if err := c.Member(0).Stop(); err != nil {
			t.Fatal(err)
		}
	}
	root := fixtureRoot(t)
	copyTree(t, a.Member(0).DataDir(), filepath.Join(root, "var/lib/etcd"))
	before := snapshotFiles(t, root)

	r := clitest.Run(t, noEtcd, "breakglass", "survivors", "--root", root, "-o", "json")
	var v struct {
		ClusterID string `json:"clusterID"`
		Best      string `json:"best"`
		Next      string `json:"next"`
		Dirs      []struct {
			DataDir string `json:"dataDir"`
			Rank    int    `json:"rank"`
			Locked  bool   `json:"locked"`
		} `json:"dirs"`
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &v) != nil || len(v.Dirs) != 1 || v.Dirs[0].Rank != 1 {
		t.Fatalf("survivors --root: exit %d, %s", r.Code, r.Stdout)
	}
	if v.Best != filepath.Join(root, "var/lib/etcd") || !strings.Contains(v.Next, "breakglass force-new-cluster --root "+root) {
		t.Fatalf("best %q next %q", v.Best, v.Next)
	}
	if !same(before, snapshotFiles(t, root)) {
		t.Fatal("survivors changed files under the root")
	}

	r = clitest.Run(t, noEtcd, "breakglass", "survivors", "--data-dir", a.Member(0).DataDir(), "--data-dir", b.Member(0).DataDir())
	if r.Code != 64 || !strings.Contains(r.Stderr, a.Member(0).DataDir()) || !strings.Contains(r.Stderr, b.Member(0).DataDir()) {
		t.Fatalf("dirs of two clusters: exit %d, stderr %q; want 64 naming both", r.Code, r.Stderr)
	}

	// A dir that is not a data dir but holds one (a member's directory with
	// its logs beside it): named as the one to pass. While any dir is left
	// unread, no force is advised: it may hold more than the best one read.
	holder := t.TempDir()
	copyTree(t, a.Member(0).DataDir(), filepath.Join(holder, "data"))
	r = clitest.Run(t, noEtcd, "breakglass", "survivors", "--data-dir", a.Member(0).DataDir(), "--data-dir", holder, "-o", "json")
	var partial struct {
		Next     string `json:"next"`
		Unranked int    `json:"unranked"`
	}
	if r.Code != 1 || json.Unmarshal([]byte(r.Stdout), &partial) != nil || partial.Next != "" || partial.Unranked != 1 ||
		!strings.Contains(r.Stdout, filepath.Join(holder, "data")+" is one: --data-dir "+filepath.Join(holder, "data")) {
		t.Fatalf("one dir unread: exit %d, %+v; want 1, no next step, the data dir below named", r.Code, partial)
	}
	r = clitest.Run(t, noEtcd, "breakglass", "survivors", "--data-dir", a.Member(0).DataDir(), "--data-dir", holder)
	if !strings.Contains(r.Stdout, "Best of the dirs read: ") || !strings.Contains(r.Stdout, "Next: 1 dir(s) could not be read (above)") || strings.Contains(r.Stdout, "force-new-cluster") {
		t.Fatalf("one dir unread, table:\n%s", r.Stdout)
	}
	// Given as --data-dir, the best one's node is unknown: the next step
	// says where to run the force.
	r = clitest.Run(t, noEtcd, "breakglass", "survivors", "--data-dir", a.Member(0).DataDir())
	if r.Code != 0 || !strings.Contains(r.Stdout, "Next: on the node that holds it: etcdmedic breakglass force-new-cluster --dry-run") {
		t.Fatalf("--data-dir: exit %d, table:\n%s", r.Code, r.Stdout)
	}

	// A running member: reported as locked at once, not ranked, exit 2.
	if err := b.Member(0).Restart(); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	r = clitest.Run(t, noEtcd, "breakglass", "survivors", "--data-dir", b.Member(0).DataDir())
	if r.Code != 2 || !strings.Contains(r.Stdout, "locked by a running etcd") || r.Took.Seconds() > 5 {
		t.Fatalf("running member: exit %d in %s; want 2 and reported locked at once", r.Code, r.Took)
	}
}
