package playgroundtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	binOnce  sync.Once
	binPath  string
	binError error
)

// Binary builds the etcdmedic command once per test process, for tests that
// run it as a user would: in a process of its own that signals reach
// (SIGSTOP past a lease, SIGINT with the output piped).
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "etcdmedic-test-bin-")
		if err != nil {
			binError = err
			return
		}
		binPath = filepath.Join(dir, "etcdmedic")
		if out, err := exec.Command("go", "build", "-o", binPath, "github.com/etcdmedic/etcdmedic/cmd/etcdmedic").CombinedOutput(); err != nil {
			binError = fmt.Errorf("build etcdmedic: %v\n%s", err, out)
		}
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

// RemoveBinary deletes the built command; call it from TestMain after m.Run.
func RemoveBinary() {
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
}
