package snapshot_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
	snap "github.com/etcdmedic/etcdmedic/snapshot"
)

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// A flipped byte and a truncation are both caught, with and without the
// metadata file, and the message says what is wrong.
func TestVerifyCatchesCorruption(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 200, ConfigMaps: 50, PodPadding: 400})
	dir := t.TempDir()
	good := save(t, env(c), dir).Save.Path
	zgood := save(t, env(c), dir, "--compress", "--from", "leader")
	_ = zgood
	size := func(p string) int64 {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}

	cases := []struct {
		name     string
		damage   func(p string)
		withMeta bool
		want     string
	}{
		{"flipped byte", func(p string) { flip(t, p, size(p)/2) }, true, "sha256"},
		{"flipped byte, no metadata", func(p string) { flip(t, p, size(p)/3) }, false, "appended sha256 does not match"},
		{"flipped byte in a page header, no metadata", func(p string) { flip(t, p, 4096*3+2) }, false, "appended sha256 does not match"},
		{"truncated", func(p string) { truncate(t, p, size(p)*2/3) }, true, "truncated"},
		{"truncated, no metadata", func(p string) { truncate(t, p, size(p)*2/3) }, false, "truncated"},
		{"hash cut off, no metadata", func(p string) { truncate(t, p, size(p)-32) }, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), filepath.Base(good))
			copyFile(t, good, p)
			if tc.withMeta {
				copyFile(t, snap.MetaPath(good), snap.MetaPath(p))
			}
			tc.damage(p)
			r := clitest.Run(t, nil, "snapshot", "verify", p)
			if tc.want == "" {
				// Without hash and metadata only the bolt read vouches: a warning, not a failure.
				if r.Code != 1 || !strings.Contains(r.Stdout, "no sha256 appended") {
					t.Fatalf("exit %d, want 1 with a warning", r.Code)
				}
				return
			}
			if r.Code != 2 {
				t.Fatalf("exit %d, want 2", r.Code)
			}
			if !strings.Contains(r.Stderr, tc.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
				t.Errorf("stderr %q: want one line mentioning %q", r.Stderr, tc.want)
			}
		})
	}

	t.Run("compressed, flipped byte", func(t *testing.T) {
		src := zgood.Save.Path
		p := filepath.Join(t.TempDir(), filepath.Base(src))
		copyFile(t, src, p)
		copyFile(t, snap.MetaPath(src), snap.MetaPath(p))
		flip(t, p, size(p)/2)
		r := clitest.Run(t, nil, "snapshot", "verify", p)
		if r.Code != 2 {
			t.Fatalf("exit %d, want 2", r.Code)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		if r := clitest.Run(t, nil, "snapshot", "verify", filepath.Join(dir, "nope.db")); r.Code != 64 {
			t.Fatalf("exit %d, want 64", r.Code)
		}
	})
}

func flip(t *testing.T, p string, off int64) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func truncate(t *testing.T, p string, n int64) {
	t.Helper()
	if err := os.Truncate(p, n); err != nil {
		t.Fatal(err)
	}
}

// The real binary, SIGKILLed while it streams: no file under a final name,
// and the next run removes the temporary file.
func TestSaveKilledMidStream(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "etcdmedic")
	build := exec.Command("go", "build", "-o", bin, "github.com/etcdmedic/etcdmedic/cmd/etcdmedic")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	cli := playgroundtest.Client(t, c)
	value := strings.Repeat("z", 512<<10)
	for i := 0; i < 160; i++ { // 80 MiB
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("/big/%d", i), value)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	m := c.Member(0)
	cmd := exec.Command(bin, "snapshot", "save", dir, "--endpoints", c.Endpoints()[0], "--stall-timeout", "5m")
	cmd.Env = []string{"HOME=" + t.TempDir()}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// Wait for bytes to arrive, then freeze the member so the stream is
	// certainly mid-way when the tool is killed.
	var temp string
	deadline := time.Now().Add(60 * time.Second)
	for temp == "" {
		if time.Now().After(deadline) {
			t.Fatal("no temporary file with data appeared")
		}
		select {
		case err := <-exited:
			t.Fatalf("save finished before it could be killed: %v", err)
		default:
		}
		ms, _ := filepath.Glob(filepath.Join(dir, ".etcdmedic-snapshot-*.part"))
		for _, p := range ms {
			if fi, err := os.Stat(p); err == nil && fi.Size() > 0 {
				temp = p
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := m.Pause(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(temp)
	if fi.Size() >= 80<<20 {
		m.Resume()
		t.Fatalf("the stream completed (%d bytes) before the member was paused", fi.Size())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	if err := m.Resume(); err != nil {
		t.Fatal(err)
	}
	if fin, _ := filepath.Glob(filepath.Join(dir, "etcd-*")); len(fin) != 0 {
		t.Fatalf("a killed save left files under final names: %v", fin)
	}
	if _, err := os.Stat(temp); err != nil {
		t.Fatalf("the temporary file should still be there before the next run: %v", err)
	}
	t.Logf("killed at %d bytes of the temporary file", fi.Size())

	out := save(t, env(c), dir)
	if len(out.Save.CleanedUp) != 1 || out.Save.CleanedUp[0] != temp {
		t.Errorf("cleaned up %v, want [%s]", out.Save.CleanedUp, temp)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".etcdmedic-snapshot-*")); len(left) != 0 {
		t.Errorf("temporary files left after the next run: %v", left)
	}
	if r := clitest.Run(t, nil, "snapshot", "verify", out.Save.Path); r.Code != 0 {
		t.Errorf("the next run's snapshot does not verify: exit %d", r.Code)
	}
}
