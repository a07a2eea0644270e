package etcdbin_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/internal/etcdbin"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

var need = etcdbin.Need{Name: "etcdutl", Flag: "--etcdutl-binary", For: "restore"}

func TestFindExplicitBesidePath(t *testing.T) {
	rb := playgroundtest.ReleaseBinaries(t)["v3.7.3"]
	if got, err := etcdbin.Find(need, rb.Etcdutl); err != nil || got != rb.Etcdutl {
		t.Fatalf("explicit: %q %v", got, err)
	}
	notExec := filepath.Join(t.TempDir(), "etcdutl")
	if err := os.WriteFile(notExec, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{notExec, filepath.Dir(notExec), filepath.Join(t.TempDir(), "none")} {
		_, err := etcdbin.Find(need, bad)
		if fault.Kind(err) != fault.Invalid || !strings.Contains(err.Error(), "--etcdutl-binary "+bad+" is not an executable file") {
			t.Errorf("explicit %s: %v; want Invalid, not an executable file", bad, err)
		}
	}

	// PATH, and nothing: one line saying what to do.
	t.Setenv("PATH", filepath.Dir(rb.Etcdutl))
	if got, err := etcdbin.Find(need, ""); err != nil || got != rb.Etcdutl {
		t.Fatalf("on PATH: %q %v", got, err)
	}
	t.Setenv("PATH", t.TempDir())
	_, err := etcdbin.Find(need, "")
	self, _ := os.Executable()
	want := "this etcdmedic (release build) runs etcd's own etcdutl for restore: none next to " + self + " or on PATH; pass --etcdutl-binary"
	if fault.Kind(err) != fault.Invalid || !etcdbin.IsNotFound(err) || err.Error() != want {
		t.Fatalf("none: %v\nwant: %s", err, want)
	}

	// Beside this executable wins over PATH.
	t.Setenv("PATH", filepath.Dir(rb.Etcdutl))
	beside := filepath.Join(filepath.Dir(self), "etcdutl")
	if err := os.Symlink(rb.Etcdutl, beside); err != nil {
		t.Skipf("cannot write beside the test binary: %v", err)
	}
	t.Cleanup(func() { os.Remove(beside) })
	if got, err := etcdbin.Find(need, ""); err != nil || got != beside {
		t.Fatalf("beside: %q %v, want %s", got, err, beside)
	}
}

func TestVersion(t *testing.T) {
	for v, rb := range playgroundtest.ReleaseBinaries(t) {
		want := strings.TrimPrefix(v, "v")
		if got, err := etcdbin.Version(context.Background(), "etcdutl", rb.Etcdutl); err != nil || got != want {
			t.Errorf("etcdutl %s: %q %v", v, got, err)
		}
		if got, err := etcdbin.Version(context.Background(), "etcd", rb.Etcd); err != nil || got != want {
			t.Errorf("etcd %s: %q %v", v, got, err)
		}
	}
}

func TestRunFailsWithTheToolsReasonOnOneLine(t *testing.T) {
	rb := playgroundtest.ReleaseBinaries(t)["v3.7.3"]
	dir := filepath.Join(t.TempDir(), "not-a-data-dir")
	err := etcdbin.Run(context.Background(), time.Minute, rb.Etcdutl, "defrag", "--data-dir", dir)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "etcdutl defrag ("+rb.Etcdutl+"): exit status") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("err = %q; want one line naming the tool, its exit and its reason", err)
	}
	if err := etcdbin.Run(context.Background(), time.Minute, rb.Etcdutl, "version"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = etcdbin.Run(context.Background(), 200*time.Millisecond, "/bin/sleep", "30")
	if err == nil || !strings.Contains(err.Error(), "did not finish within") || time.Since(start) > 10*time.Second {
		t.Fatalf("err = %v after %s; want killed at the deadline", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := etcdbin.Run(ctx, time.Minute, "/bin/sleep", "30"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestErrorLine(t *testing.T) {
	for out, want := range map[string]string{
		"{\"level\":\"info\"}\nError: snapshot missing hash but --skip-hash-check=false\n":                                                                 "snapshot missing hash but --skip-hash-check=false",
		"{\"level\":\"panic\",\"msg\":\"failed to open database\"}\npanic: failed to open database\n\ngoroutine 1 [running]:\nmain.main()\n\t/x.go:1 +0x1": "panic: failed to open database",
		"first\nlast line\n\n": "last line",
		"":                     "",
	} {
		if got := etcdbin.ErrorLine([]byte(out)); got != want {
			t.Errorf("ErrorLine(%q) = %q, want %q", out, got, want)
		}
	}
}
