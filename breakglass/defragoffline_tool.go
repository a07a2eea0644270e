package breakglass

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coreos/go-semver/semver"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.etcd.io/etcd/server/v3/storage/datadir"

	"github.com/etcdmedic/etcdmedic/internal/etcdbin"
)

// defragLockTimeout is how long the defrag waits for the bolt file's lock:
// it was free when the plan looked, so a member started since is not
// waited on for long.
const defragLockTimeout = 2 * time.Second

// DefaultDefragTimeout bounds an etcdutl defrag process: one copy of the
// bytes in use, minutes for etcd's 8 GiB quota on a slow disk.
const DefaultDefragTimeout = time.Hour

// DefragOfflineOptions choose what defragments.
type DefragOfflineOptions struct {
	// EtcdutlBinary runs this etcdutl (etcdutl defrag --data-dir) instead of
	// etcdutl's library; the release build (-tags slim), which links none,
	// runs the etcdutl beside it or on PATH when empty (FindDefragTool).
	EtcdutlBinary string
	// Timeout bounds an etcdutl process (killed after it: the rename over
	// the db has not happened, the file as it was stays). Default
	// DefaultDefragTimeout. The linked library cannot be stopped.
	Timeout time.Duration
}

var etcdutlForDefrag = etcdbin.Need{Name: "etcdutl", Flag: "--etcdutl-binary", For: "defrag-offline"}

// FindDefragTool returns the etcdutl binary the defrag runs: explicit when
// given (an executable file, else a usage error); else "" in the full
// build, which defragments with etcdutl's library; else (the release
// build) etcdutl beside this binary or on PATH, or an Invalid fault saying
// what to do.
func FindDefragTool(explicit string) (string, error) {
	return etcdbin.FindUnlessLinked(etcdutlForDefrag, explicit, linkedDefrag)
}

// runDefrag defragments the data dir dir with the etcdutl binary tool, or
// with the linked library when tool is nil.
func runDefrag(ctx context.Context, tool *etcdbin.Tool, dir string, timeout time.Duration) error {
	if tool == nil {
		return defragLinked(dir)
	}
	if timeout <= 0 {
		timeout = DefaultDefragTimeout
	}
	// etcdutl before v3.7 waits for the lock forever (v3.7 has --timeout):
	// take it here first, for as long as the library would wait, and let
	// it go for etcdutl.
	if err := checkBoltLock(datadir.ToBackendFileName(dir), defragLockTimeout); err != nil {
		return err
	}
	args := []string{"defrag", "--data-dir", dir}
	if hasLockTimeoutFlag(tool.Version) {
		args = append(args, "--timeout", defragLockTimeout.String())
	}
	return etcdbin.Run(ctx, timeout, tool.Path, args...)
}

// hasLockTimeoutFlag: etcdutl v3.7 added --timeout, the wait for the
// bolt file's lock.
func hasLockTimeoutFlag(version string) bool {
	v, err := semver.NewVersion(version)
	return err == nil && !v.LessThan(semver.Version{Major: 3, Minor: 7})
}

// checkBoltLock takes the bolt file's lock (shared: a running etcd holds it
// exclusively) within timeout and lets it go.
func checkBoltLock(path string, timeout time.Duration) error {
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return fmt.Errorf("%s: %w", path, ErrLocked)
	}
	if err != nil {
		return fmt.Errorf("bolt file %s: %w", path, err)
	}
	return db.Close()
}
