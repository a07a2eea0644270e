//go:build !slim

package snapshot_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// The full build with --etcdutl-binary restores with that etcdutl, as the
// release build does, and --plan's commands carry the flag.
func TestRestoreWithEtcdutlBinary(t *testing.T) {
	bins := playgroundtest.ReleaseBinaries(t)
	b := bins[latest(bins, "v3.7")]
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 30, ConfigMaps: 5})
	cli := playgroundtest.Client(t, c)
	out := save(t, env(c), t.TempDir())
	want := dump(t, cli, out.Save.Metadata.Revision)

	dataDir := filepath.Join(t.TempDir(), "restored")
	peer := fmt.Sprintf("http://127.0.0.1:%d", playgroundtest.FreePort(t))
	r := clitest.Run(t, nil, "snapshot", "restore", out.Save.Path, "--data-dir", dataDir, "--name", "r1",
		"--initial-cluster", "r1="+peer, "--initial-advertise-peer-urls", peer, "--etcdutl-binary", b.Etcdutl, "-o", "json")
	var res struct {
		RestoredRevision int64                           `json:"restoredRevision"`
		Etcdutl          *struct{ Path, Version string } `json:"etcdutl"`
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &res) != nil {
		t.Fatalf("restore --etcdutl-binary: exit %d", r.Code)
	}
	if res.Etcdutl == nil || res.Etcdutl.Path != b.Etcdutl || "v"+res.Etcdutl.Version != b.Version {
		t.Fatalf("restored with %+v, want %s's etcdutl", res.Etcdutl, b.Version)
	}
	got := dump(t, playgroundtest.ServeDataDir(t, b.Etcd, dataDir, "r1", peer), 0)
	delete(got, "health-probe")
	equalMaps(t, got, want)

	// The built-in code: no etcdutl named.
	r = clitest.Run(t, nil, "snapshot", "restore", out.Save.Path, "--data-dir", filepath.Join(t.TempDir(), "r"), "-o", "json")
	if r.Code != 0 || strings.Contains(r.Stdout, `"etcdutl"`) {
		t.Fatalf("restore with the built-in code: exit %d\n%s", r.Code, r.Stdout)
	}
	r = clitest.Run(t, nil, "snapshot", "restore", out.Save.Path, "--plan", "--data-dir", "/var/lib/etcd-restored",
		"--initial-cluster", "a=http://10.0.0.1:2380,b=http://10.0.0.2:2380", "--etcdutl-binary", b.Etcdutl)
	if r.Code != 0 || strings.Count(r.Stdout, "--etcdutl-binary "+b.Etcdutl) != 2 {
		t.Fatalf("--plan: exit %d; want each member's command with --etcdutl-binary\n%s", r.Code, r.Stdout)
	}
	r = clitest.Run(t, nil, "snapshot", "restore", out.Save.Path, "--data-dir", filepath.Join(t.TempDir(), "r"), "--etcdutl-binary", t.TempDir())
	if r.Code != 64 || !strings.Contains(r.Stderr, "is not an executable file") {
		t.Fatalf("--etcdutl-binary a directory: exit %d, want 64\n%s", r.Code, r.Stderr)
	}
}
