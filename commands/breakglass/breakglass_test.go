package breakglass_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestMain(m *testing.M) {
	playground.RunMemberIfRequested()
	code := m.Run()
	playgroundtest.RemoveBinary()
	os.Exit(code)
}

func fixtureRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "etc/kubernetes/manifests")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"} {
		data, err := os.ReadFile(filepath.Join("../../breakglass/testdata/kubeadm", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func snapshotFiles(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			out[p] = string(b)
		}
		return nil
	})
	return out
}

func same(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

var noEtcd = playgroundtest.Env("ETCDCTL_ENDPOINTS", "http://127.0.0.1:1")

func TestRunbookOnAFixtureRoot(t *testing.T) {
	root := fixtureRoot(t)
	before := snapshotFiles(t, root)

	// Without --yes and without a terminal: the plan, refused (exit 4), so
	// a script does not go on as if it had happened.
	r := clitest.Run(t, noEtcd, "breakglass", "etcd-only", "--root", root)
	if r.Code != 4 || !strings.Contains(r.Stdout, "would move") || !strings.Contains(r.Stderr, "not confirmed") || !strings.Contains(r.Stderr, "--yes") || !same(before, snapshotFiles(t, root)) {
		t.Fatalf("unconfirmed: exit %d, changed files or no plan shown", r.Code)
	}
	r = clitest.Run(t, noEtcd, "breakglass", "etcd-only", "--root", root, "--dry-run")
	if r.Code != 0 || !strings.Contains(r.Stdout, "would move") || !same(before, snapshotFiles(t, root)) {
		t.Fatalf("dry run: exit %d, changed files or no plan shown", r.Code)
	}
	r = clitest.Run(t, noEtcd, "breakglass", "etcd-only", "--root", root, "--yes", "-o", "json")
	var res struct {
		Moves []struct {
			From string `json:"from"`
			Done bool   `json:"done"`
		} `json:"moves"`
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &res) != nil || len(res.Moves) != 3 {
		t.Fatalf("etcd-only: exit %d, %s", r.Code, r.Stdout)
	}
	r = clitest.Run(t, noEtcd, "breakglass", "etcd-only", "--root", root, "--yes")
	if r.Code != 0 || !strings.Contains(r.Stdout, "nothing to do") {
		t.Fatalf("second etcd-only: exit %d", r.Code)
	}
	r = clitest.Run(t, noEtcd, "breakglass", "apiserver", "--localhost", "--root", root, "--yes", "--max-requests-inflight", "25")
	if r.Code != 0 || !strings.Contains(r.Stdout, "--bind-address=127.0.0.1") || !strings.Contains(r.Stdout, "tls-server-name: kubernetes") || !strings.Contains(r.Stdout, "system:masters") {
		t.Fatalf("apiserver: exit %d", r.Code)
	}
	r = clitest.Run(t, noEtcd, "breakglass", "plan", "--root", root)
	if r.Code != 0 || !strings.Contains(r.Stdout, "1. [done]") || !strings.Contains(r.Stdout, "2. [done]") || !strings.Contains(r.Stdout, "3. [next]") || !strings.Contains(r.Stdout, "etcdmedic breakglass purge-pods --dry-run --root "+root) {
		t.Fatalf("plan: exit %d", r.Code)
	}
	r = clitest.Run(t, noEtcd, "breakglass", "journal", "--root", root, "-o", "json")
	var j struct {
		Entries []struct {
			Action, Result, User string
		} `json:"entries"`
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &j) != nil || len(j.Entries) != 4 || j.Entries[3].Action != "write-apiserver" {
		t.Fatalf("journal: exit %d, %s", r.Code, r.Stdout)
	}
	if strings.Contains(r.Stdout, "BEGIN") || strings.Contains(r.Stdout, "PRIVATE") {
		t.Fatal("journal holds key material")
	}
	r = clitest.Run(t, noEtcd, "breakglass", "undo", "--root", root, "--yes")
	if r.Code != 0 {
		t.Fatalf("undo: exit %d", r.Code)
	}
	after := snapshotFiles(t, root)
	for p, v := range before {
		if after[p] != v {
			t.Errorf("%s not restored byte-identical", p)
		}
	}
	for p := range after {
		if strings.Contains(p, "/etc/kubernetes/manifests/") && before[p] == "" {
			t.Errorf("%s left behind", p)
		}
	}
}

func TestBadInputExitsCleanlyAndChangesNothing(t *testing.T) {
	t.Run("root without manifests", func(t *testing.T) {
		root := t.TempDir()
		for _, cmd := range [][]string{{"etcd-only", "--yes"}, {"plan"}, {"apiserver", "--localhost", "--yes"}} {
			r := clitest.Run(t, noEtcd, append(append([]string{"breakglass"}, cmd...), "--root", root)...)
			if r.Code != 64 && r.Code != 4 {
				t.Errorf("%v: exit %d, want 64", cmd, r.Code)
			}
			if n := strings.Count(strings.TrimSpace(r.Stderr), "\n"); !strings.HasPrefix(r.Stderr, "Error: ") || n > 1 {
				t.Errorf("%v: want one clear error line, got %q", cmd, r.Stderr)
			}
		}
		if files := snapshotFiles(t, root); len(files) != 0 {
			t.Fatalf("wrote %v", files)
		}
	})
	t.Run("manifest not a pod", func(t *testing.T) {
		root := fixtureRoot(t)
		os.WriteFile(filepath.Join(root, "etc/kubernetes/manifests/extra.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\n"), 0o600)
		before := snapshotFiles(t, root)
		r := clitest.Run(t, noEtcd, "breakglass", "etcd-only", "--root", root, "--yes")
		if r.Code != 64 || !strings.Contains(r.Stderr, "extra.yaml") || !strings.Contains(r.Stderr, "not a Pod") {
			t.Fatalf("exit %d: %s", r.Code, r.Stderr)
		}
		if !same(before, snapshotFiles(t, root)) {
			t.Fatal("files changed")
		}
	})
	t.Run("purge flags", func(t *testing.T) {
		c := playgroundtest.Start(t, playground.Options{Members: 1})
		cli := playgroundtest.Client(t, c)
		playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 300, PodPadding: 16})
		rev := revision(t, cli)
		root := t.TempDir()
		env := playgroundtest.Env("ETCDCTL_ENDPOINTS", strings.Join(c.Endpoints(), ","))
		for _, args := range [][]string{
			{"--phase", "Succeeded,Done"},
			{"--selector", "app in (a,b"},
			{"--older-than", "yesterday"},
			{"--etcd-prefix", "/"},
		} {
			r := clitest.Run(t, env, append([]string{"breakglass", "purge-pods", "--yes", "--root", root}, args...)...)
			if r.Code != 64 || !strings.HasPrefix(r.Stderr, "Error: ") {
				t.Errorf("%v: exit %d, want 64 with an error", args, r.Code)
			}
		}
		if got := revision(t, cli); got != rev {
			t.Fatalf("etcd changed: revision %d → %d", rev, got)
		}
		if files := snapshotFiles(t, root); len(files) != 0 {
			t.Fatalf("wrote %v", files)
		}
	})
}

func revision(t *testing.T, cli *clientv3.Client) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/", clientv3.WithCountOnly(), clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func TestPurgePodsCLI(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	cli := playgroundtest.Client(t, c)
	seed := playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 2000, PodPadding: 16})
	terminal := seed.Phases["Succeeded"] + seed.Phases["Failed"]
	root := t.TempDir()
	env := playgroundtest.Env("ETCDCTL_ENDPOINTS", strings.Join(c.Endpoints(), ","))

	r := clitest.Run(t, env, "breakglass", "purge-pods", "--root", root, "--dry-run")
	if r.Code != 0 || !strings.Contains(r.Stdout, "pods match") {
		t.Fatalf("dry run exit %d", r.Code)
	}
	r = clitest.Run(t, env, "breakglass", "purge-pods", "--root", root)
	if r.Code != 4 || !strings.Contains(r.Stdout, "pods match") || !strings.Contains(r.Stderr, "not confirmed") {
		t.Fatalf("unconfirmed purge: exit %d", r.Code)
	}
	r = clitest.Run(t, env, "breakglass", "purge-pods", "--root", root, "--yes", "--rate", "0", "-o", "json")
	var rep struct {
		Matched, Deleted, Changed int
		Archive                   string
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &rep) != nil || rep.Matched != terminal || rep.Deleted != terminal {
		t.Fatalf("purge exit %d: %+v, want %d deleted", r.Code, rep, terminal)
	}
	if st, err := os.Stat(rep.Archive); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("archive %s: %v", rep.Archive, err)
	}
	count := func() int64 { return podCount(t, cli) }
	if got := count(); got != int64(2000-terminal) {
		t.Fatalf("%d pods left, want %d", got, 2000-terminal)
	}
	r = clitest.Run(t, env, "breakglass", "undo", "--root", root, "--pods", "--yes")
	if r.Code != 0 || count() != 2000 {
		t.Fatalf("undo --pods: exit %d, %d pods", r.Code, count())
	}
}

// podCount is how many pods etcd holds now.
func podCount(t *testing.T, cli *clientv3.Client) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/registry/pods/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}
