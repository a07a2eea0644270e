package breakglass_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
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

// The full build with --etcdutl-binary runs that etcdutl, as the release
// build does: here v3.5's, which has no lock --timeout of its own.
func TestDefragOfflineCLIWithEtcdutlBinary(t *testing.T) {
	old := playgroundtest.ReleaseBinaries(t)["v3.5.35"]
	if old.Etcdutl == "" {
		t.Fatal("no etcdutl v3.5.35: run scripts/build-etcd.sh")
	}
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	m := c.Member(0)
	cli := playgroundtest.Client(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	val := strings.Repeat("x", 16<<10)
	for i := 0; i < 600; i++ {
		if _, err := cli.Put(ctx, fmt.Sprintf("/frag/%04d", i), val); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := cli.Delete(ctx, "/frag/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	args := []string{"breakglass", "defrag-offline", "--data-dir", m.DataDir(), "--state-dir", state, "--yes", "-o", "json"}
	db := filepath.Join(m.DataDir(), "member", "snap", "db")
	orig := sum(t, db)

	r := clitest.Run(t, noEtcd, append(args, "--etcdutl-binary", filepath.Join(state, "no-etcdutl"))...)
	if r.Code != 64 || !strings.Contains(r.Stderr, "--etcdutl-binary") || sum(t, db) != orig {
		t.Fatalf("missing --etcdutl-binary: exit %d, want 64 and nothing done\n%s", r.Code, r.Stderr)
	}
	r = clitest.Run(t, noEtcd, append(args, "--etcdutl-binary", old.Etcdutl)...)
	var v struct {
		Done   bool `json:"done"`
		Before struct {
			SizeBytes int64 `json:"sizeBytes"`
		} `json:"before"`
		After *struct {
			SizeBytes int64 `json:"sizeBytes"`
		} `json:"after"`
		Etcdutl *struct{ Path, Version string } `json:"etcdutl"`
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &v) != nil || !v.Done || v.After == nil {
		t.Fatalf("defrag-offline --etcdutl-binary: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if v.Etcdutl == nil || v.Etcdutl.Path != old.Etcdutl || v.Etcdutl.Version != "3.5.35" || v.After.SizeBytes*2 > v.Before.SizeBytes {
		t.Fatalf("ran %+v, %d -> %d bytes; want etcdutl 3.5.35 and half the size or less", v.Etcdutl, v.Before.SizeBytes, v.After.SizeBytes)
	}
	if r := clitest.Run(t, noEtcd, "breakglass", "undo", "--state-dir", state, "--yes"); r.Code != 0 || sum(t, db) != orig {
		t.Fatalf("undo: exit %d, the original back: %v\n%s", r.Code, sum(t, db) == orig, r.Stderr)
	}
}

func sum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}
