package commands_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// serverPackages are etcd's server and etcdutl packages the release build
// must not link: they came in through etcdutl's restore and defrag (now
// etcd's own etcdutl binary runs them), and their initialisation was a
// third of every command's start (issue 14). storage/wal, its walpb,
// api/snap, snappb and storage/datadir stay: survivors reads WAL tails.
var serverPackages = []string{
	"go.etcd.io/etcd/server/v3/etcdserver",
	"go.etcd.io/etcd/server/v3/storage/mvcc",
	"go.etcd.io/etcd/server/v3/storage/backend",
	"go.etcd.io/etcd/server/v3/storage/schema",
	"go.etcd.io/etcd/server/v3/etcdserver/api/v2store",
	"go.etcd.io/etcd/server/v3/auth",
	"go.etcd.io/etcd/server/v3/lease",
}

// checkNoServerPackages fails for any of serverPackages, anything of
// etcdutl, and blackfriday (cobra/doc's man pages: the docs command is
// only in the full build) in the release build's dependencies.
func checkNoServerPackages(t *testing.T, deps []string) {
	t.Helper()
	for _, p := range deps {
		for _, s := range serverPackages {
			if p == s {
				t.Errorf("the release build links %s", p)
			}
		}
		if strings.HasPrefix(p, "go.etcd.io/etcd/etcdutl/") || strings.HasPrefix(p, "github.com/russross/blackfriday") {
			t.Errorf("the release build links %s", p)
		}
	}
}

// runBin runs the release binary with only the given PATH.
func runBin(t *testing.T, bin, path string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "PATH="+path)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	return o.String(), e.String(), exitCode(err)
}

// copyBinBeside copies bin into a new directory with etcd's etcdutl linked
// beside it, as the release archive ships them (os.Executable resolves
// symlinks, so etcdmedic itself is a copy).
func copyBinBeside(t *testing.T, bin, etcdutl string) string {
	t.Helper()
	dir := t.TempDir()
	dst := filepath.Join(dir, "etcdmedic")
	if out, err := exec.Command("cp", bin, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if err := os.Symlink(etcdutl, filepath.Join(dir, "etcdutl")); err != nil {
		t.Fatal(err)
	}
	return dst
}

type restoreOut struct {
	DataDir          string `json:"dataDir"`
	Revision         int64  `json:"revision"`
	RestoredRevision int64  `json:"restoredRevision"`
	Etcdutl          *struct {
		Path, Version string
	} `json:"etcdutl"`
}

// testReleaseRestore: the release binary restores a real snapshot with
// etcd's etcdutl (beside it, on PATH, or --etcdutl-binary) into a data dir
// that etcd v3.7.3 starts on, every key there; without one, exit 64 and one
// line saying what to do.
func testReleaseRestore(t *testing.T, bin string) {
	rb, ok := playgroundtest.ReleaseBinaries(t)["v3.7.3"]
	if !ok {
		t.Fatal("no etcd v3.7.3 release binary: run scripts/build-etcd.sh")
	}
	c := playgroundtest.Start(t, playground.Options{Members: 1, EtcdBinary: rb.Etcd})
	cli := playgroundtest.Client(t, c)
	want := map[string]string{}
	for i := 0; i < 50; i++ {
		k, v := fmt.Sprintf("/release/%02d", i), strings.Repeat("v", i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := cli.Put(ctx, k, v)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	dir := t.TempDir()
	out, stderr, code := runBin(t, bin, "", "snapshot", "save", dir, "--endpoints", c.Endpoints()[0], "-o", "json", "--command-timeout", "20s")
	var saved struct {
		Save struct {
			Path string `json:"path"`
		} `json:"save"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &saved) != nil || saved.Save.Path == "" {
		t.Fatalf("snapshot save: exit %d\n%s\n%s", code, out, stderr)
	}
	restore := func(bin, path string, extra ...string) (string, string, string, int) {
		peer := fmt.Sprintf("http://127.0.0.1:%d", playgroundtest.FreePort(t))
		dd := filepath.Join(t.TempDir(), "restored")
		args := append([]string{"snapshot", "restore", saved.Save.Path, "--data-dir", dd, "--name", "r1",
			"--initial-cluster", "r1=" + peer, "--initial-advertise-peer-urls", peer, "-o", "json"}, extra...)
		o, e, code := runBin(t, bin, path, args...)
		return dd, peer, o + e, code
	}

	t.Run("no etcdutl", func(t *testing.T) {
		dd, _, out, code := restore(bin, t.TempDir())
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 64 || !strings.Contains(lines[0], "runs etcd's own etcdutl for restore: none next to "+bin+" or on PATH; pass --etcdutl-binary") {
			t.Fatalf("exit %d, want 64 and one line saying what to do:\n%s", code, out)
		}
		if _, err := os.Stat(dd); !os.IsNotExist(err) {
			t.Errorf("the data dir %s was created: %v", dd, err)
		}
		_, _, out, code = restore(bin, t.TempDir(), "--etcdutl-binary", filepath.Join(t.TempDir(), "etcdutl"))
		if code != 64 || !strings.Contains(out, "--etcdutl-binary") || !strings.Contains(out, "is not an executable file") {
			t.Fatalf("a missing --etcdutl-binary: exit %d, want 64:\n%s", code, out)
		}
	})

	t.Run("no such snapshot file: said before etcdutl is looked for", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "etcd-missing.db")
		out, stderr, code := runBin(t, bin, t.TempDir(), "snapshot", "restore", missing, "--data-dir", filepath.Join(t.TempDir(), "d"))
		if code != 64 || !strings.Contains(stderr, missing+": no such file or directory") || strings.Contains(stderr, "runs etcd's own etcdutl") {
			t.Fatalf("exit %d, want 64 naming the missing file:\n%s%s", code, out, stderr)
		}
	})

	t.Run("etcdutl beside the binary", func(t *testing.T) {
		beside := copyBinBeside(t, bin, rb.Etcdutl)
		dd, peer, out, code := restore(beside, t.TempDir())
		var r restoreOut
		if code != 0 || json.Unmarshal([]byte(out), &r) != nil {
			t.Fatalf("restore: exit %d\n%s", code, out)
		}
		if r.Etcdutl == nil || r.Etcdutl.Path != filepath.Join(filepath.Dir(beside), "etcdutl") || r.Etcdutl.Version != "3.7.3" {
			t.Errorf("restore ran %+v, want the etcdutl 3.7.3 beside %s", r.Etcdutl, beside)
		}
		if r.RestoredRevision != r.Revision+1_000_000_000 {
			t.Errorf("restored revision %d, snapshot's %d: want the default bump", r.RestoredRevision, r.Revision)
		}
		rcli := playgroundtest.ServeDataDir(t, rb.Etcd, dd, "r1", peer)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := rcli.Get(ctx, "/release/", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, kv := range resp.Kvs {
			got[string(kv.Key)] = string(kv.Value)
		}
		if len(got) != len(want) {
			t.Fatalf("restored member serves %d keys, want %d", len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%s = %q, want %q", k, got[k], v)
			}
		}
		if resp.Header.Revision <= r.Revision+1_000_000_000-1 {
			t.Errorf("restored member at revision %d, want past the bump", resp.Header.Revision)
		}
	})

	t.Run("etcdutl on PATH", func(t *testing.T) {
		_, _, out, code := restore(bin, filepath.Dir(rb.Etcdutl))
		var r restoreOut
		if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.Etcdutl == nil || r.Etcdutl.Path != rb.Etcdutl {
			t.Fatalf("restore: exit %d, want etcdutl from PATH (%s)\n%s", code, rb.Etcdutl, out)
		}
	})

	t.Run("etcdutl fails: its error on one line", func(t *testing.T) {
		// --bump-revision without --mark-compacted: etcdutl refuses it.
		_, _, out, code := restore(bin, "", "--etcdutl-binary", rb.Etcdutl, "--mark-compacted=false")
		if code != 2 || !strings.Contains(out, "--mark-compacted required") {
			t.Fatalf("exit %d, want 2 and etcdutl's reason:\n%s", code, out)
		}
	})
}

// testReleaseDefragOffline: the release binary's defrag-offline (etcd's
// etcdutl on PATH) shrinks a stopped member's copied data dir and undo puts
// the file back byte for byte; without etcdutl, exit 64 and nothing done.
func testReleaseDefragOffline(t *testing.T, bin string) {
	rb, ok := playgroundtest.ReleaseBinaries(t)["v3.7.3"]
	if !ok {
		t.Fatal("no etcd v3.7.3 release binary: run scripts/build-etcd.sh")
	}
	c := playgroundtest.Start(t, playground.Options{Members: 1, EtcdBinary: rb.Etcd})
	m := c.Member(0)
	cli := playgroundtest.Client(t, c)
	val := strings.Repeat("x", 16<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var rev int64
	for i := 0; i < 900; i++ {
		resp, err := cli.Put(ctx, fmt.Sprintf("/frag/%04d", i), val)
		if err != nil {
			t.Fatal(err)
		}
		rev = resp.Header.Revision
	}
	for i := 0; i < 900; i++ {
		if i%3 == 0 {
			continue
		}
		resp, err := cli.Delete(ctx, fmt.Sprintf("/frag/%04d", i))
		if err != nil {
			t.Fatal(err)
		}
		rev = resp.Header.Revision
	}
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Dir(rb.Etcdutl)

	// Running: refused by the lock, whatever the etcdutl.
	state := t.TempDir()
	args := []string{"breakglass", "defrag-offline", "--data-dir", m.DataDir(), "--state-dir", state, "--yes"}
	if _, e, code := runBin(t, bin, path, args...); code != 4 || !strings.Contains(e, "running etcd") {
		t.Fatalf("on a running member: exit %d, want 4\n%s", code, e)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	if out, err := exec.Command("cp", "-a", m.DataDir(), dataDir).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v %s", err, out)
	}
	db := filepath.Join(dataDir, "member", "snap", "db")
	orig := fileSum(t, db)
	args = []string{"breakglass", "defrag-offline", "--data-dir", dataDir, "--state-dir", state, "--yes", "-o", "json"}

	o, e, code := runBin(t, bin, t.TempDir(), args...)
	if code != 64 || !strings.Contains(e, "runs etcd's own etcdutl for defrag-offline: none next to "+bin+" or on PATH; pass --etcdutl-binary") || fileSum(t, db) != orig {
		t.Fatalf("no etcdutl: exit %d, want 64, the reason, the file untouched\n%s%s", code, o, e)
	}
	if des, _ := os.ReadDir(state); len(des) != 0 {
		t.Fatalf("no etcdutl: the state dir has %d entries, want none", len(des))
	}

	o, e, code = runBin(t, bin, path, args...)
	var r struct {
		Done   bool `json:"done"`
		Before struct {
			SizeBytes int64 `json:"sizeBytes"`
		} `json:"before"`
		After *struct {
			SizeBytes int64 `json:"sizeBytes"`
		} `json:"after"`
		BackupMode string `json:"backupMode"`
		Etcdutl    *struct{ Path, Version string }
	}
	if code != 0 || json.Unmarshal([]byte(o), &r) != nil || !r.Done || r.After == nil {
		t.Fatalf("defrag-offline: exit %d\n%s%s", code, o, e)
	}
	t.Logf("defrag-offline (etcdutl %+v): %d -> %d bytes, backup %s", r.Etcdutl, r.Before.SizeBytes, r.After.SizeBytes, r.BackupMode)
	if r.After.SizeBytes*10 > r.Before.SizeBytes*7 || r.Etcdutl == nil || r.Etcdutl.Path != rb.Etcdutl || r.Etcdutl.Version != "3.7.3" {
		t.Fatalf("shrunk %d -> %d with %+v; want at least 30%% smaller, by etcdutl 3.7.3 from PATH", r.Before.SizeBytes, r.After.SizeBytes, r.Etcdutl)
	}
	if fileSum(t, db) == orig {
		t.Fatal("the bolt file is unchanged after the defrag")
	}
	if o, e, code := runBin(t, bin, path, "breakglass", "undo", "--state-dir", state, "--yes"); code != 0 {
		t.Fatalf("undo: exit %d\n%s%s", code, o, e)
	}
	if fileSum(t, db) != orig {
		t.Fatal("after undo the bolt file is not the original")
	}
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}
