package breakglass_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestDefragOfflineCLI(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	m := c.Member(0)
	state := t.TempDir()
	args := []string{"breakglass", "defrag-offline", "--data-dir", m.DataDir(), "--state-dir", state}

	r := clitest.Run(t, noEtcd, append(args, "--yes")...)
	if r.Code != 4 || !strings.Contains(r.Stderr, "running etcd") {
		t.Fatalf("running member: exit %d, stderr %q; want 4, held by a running etcd", r.Code, r.Stderr)
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	before := snapshotFiles(t, m.DataDir())
	r = clitest.Run(t, noEtcd, args...)
	if r.Code != 4 || !strings.Contains(r.Stderr, "not confirmed") || !strings.Contains(r.Stdout, "Would back it up") || !same(before, snapshotFiles(t, m.DataDir())) {
		t.Fatalf("unconfirmed: exit %d; want 4, the plan shown, nothing changed", r.Code)
	}
	if len(snapshotFiles(t, state)) != 0 {
		t.Fatal("unconfirmed run wrote to the state dir")
	}
	r = clitest.Run(t, noEtcd, append(args, "--yes", "-o", "json")...)
	var v struct {
		Done      bool   `json:"done"`
		BackupDir string `json:"backupDir"`
		Undo      string `json:"undo"`
		After     *struct {
			SizeBytes int64 `json:"sizeBytes"`
		} `json:"after"`
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &v) != nil || !v.Done || v.After == nil || !strings.HasPrefix(v.BackupDir, state) || !strings.Contains(v.Undo, "--state-dir "+state) {
		t.Fatalf("defrag-offline --yes: exit %d, %s", r.Code, r.Stdout)
	}
	// The table says how the file as it was is kept: the state dir is on the
	// db's filesystem here, so a hard link (no digest was taken).
	r = clitest.Run(t, noEtcd, append(args, "--yes")...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Backup: ") || !strings.Contains(r.Stdout, "hard link") || strings.Contains(r.Stdout, "sha256 )") {
		t.Fatalf("defrag-offline table: exit %d\n%s", r.Code, r.Stdout)
	}
}
