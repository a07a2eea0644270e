package breakglass

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/etcdmedic/etcdmedic/internal/etcdbin"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// etcdutl before v3.7 waits for the bolt lock forever: with a running etcd
// holding it (here: this test, exclusively), runDefrag gives up after its
// own lock wait, and etcdutl never runs.
func TestRunDefragWithAnOldEtcdutlDoesNotWaitOnTheLock(t *testing.T) {
	old := playgroundtest.ReleaseBinaries(t)["v3.5.35"]
	if old.Etcdutl == "" {
		t.Fatal("no etcdutl v3.5.35: run scripts/build-etcd.sh")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "member", "snap", "db")
	if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
		t.Fatal(err)
	}
	held, err := bolt.Open(db, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	tool := etcdbin.Describe(context.Background(), "etcdutl", old.Etcdutl)
	if tool.Version != "3.5.35" || hasLockTimeoutFlag(tool.Version) || !hasLockTimeoutFlag("3.7.3") {
		t.Fatalf("etcdutl %+v: want 3.5.35, which has no --timeout", tool)
	}
	start := time.Now()
	err = runDefrag(context.Background(), &tool, dir, time.Minute)
	took := time.Since(start)
	if !errors.Is(err, ErrLocked) || took < defragLockTimeout/2 || took > defragLockTimeout+5*time.Second {
		t.Fatalf("runDefrag on a held file: %v after %s; want ErrLocked after the %s lock wait", err, took, defragLockTimeout)
	}
}
