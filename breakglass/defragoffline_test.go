package breakglass

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/storage/datadir"

	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// fragment writes 24 MB, deletes two thirds of it and compacts, so most of
// the bolt file is free pages.
func fragment(t *testing.T, cli *clientv3.Client) {
	t.Helper()
	val := strings.Repeat("x", 8<<10)
	for i := 0; i < 3000; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("/frag/%05d", i), val)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rev int64
	for i := 0; i < 3000; i++ {
		if i%3 == 0 {
			continue
		}
		resp, err := cli.Delete(ctx, fmt.Sprintf("/frag/%05d", i))
		if err != nil {
			t.Fatal(err)
		}
		rev = resp.Header.Revision
	}
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
}

func hashKV(t *testing.T, c *playground.Cluster, m *playground.Member) (uint32, int64) {
	t.Helper()
	cli := playgroundtest.Client(t, c, m.ClientURL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := cli.HashKV(ctx, m.ClientURL, 0)
	if err != nil {
		t.Fatal(err)
	}
	n, err := cli.Get(ctx, "/frag/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return h.Hash, n.Count
}

func TestDefragOfflineShrinksAStoppedMemberAndUndoRestoresIt(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	m := c.Member(0)
	fragment(t, playgroundtest.Client(t, c))
	hash, keys := hashKV(t, c, m)
	l := &Layout{Root: "/", StateDir: t.TempDir()}
	j := OpenJournal(l.JournalPath())

	// Running: refused at once.
	start := time.Now()
	_, err := DefragOffline(l, j, m.DataDir())
	if !errors.Is(err, ErrLocked) || !errors.Is(fault.Kind(err), fault.Refused) || time.Since(start) > 3*time.Second {
		t.Fatalf("on a running member: %v after %s; want ErrLocked (refused) at once", err, time.Since(start))
	}
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	before := sums(t, m.DataDir())
	db := datadir.ToBackendFileName(m.DataDir())
	origSum, err := FileSHA256(db)
	if err != nil {
		t.Fatal(err)
	}

	plan, err := PlanDefragOffline(l, m.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plan: %+v", *plan)
	if plan.FragmentedPercent < 40 {
		t.Fatalf("fixture only %.0f%% fragmented", plan.FragmentedPercent)
	}
	sameSums(t, before, sums(t, m.DataDir()))

	r, err := DefragOffline(l, j, m.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("defrag-offline: %d -> %d bytes (%.0f%% smaller) in %.2fs", r.Before.SizeBytes, r.After.SizeBytes, r.ShrunkPercent, r.TookSeconds)
	// One filesystem: the backup is a hard link to the old inode (no
	// copy), whole once its kept meta pages are put back.
	if r.ShrunkPercent < 35 || r.BackupMode != "hardlink" {
		t.Fatalf("shrunk %.0f%%, backup %s; want ≥ 35%% and a hard link", r.ShrunkPercent, r.BackupMode)
	}
	old, _ := os.ReadFile(filepath.Join(r.BackupDir, "db"))
	meta, _ := os.ReadFile(filepath.Join(r.BackupDir, metaPagesFile))
	if len(meta) == 0 || len(old) < len(meta) || digest(append(meta, old[len(meta):]...)) != origSum {
		t.Fatalf("the hard-link backup with its meta pages is not the original (%d bytes, %d of meta pages)", len(old), len(meta))
	}

	// Undo right away: the original file, byte-identical.
	steps, err := Undo(context.Background(), l, j, UndoOptions{})
	if err != nil || len(steps) != 1 || steps[0].Action != ActDefragOffline {
		t.Fatalf("undo: %v %+v", err, steps)
	}
	sameSums(t, before, sums(t, m.DataDir()))

	// Again, then start the member: every key, the same hash.
	if _, err := DefragOffline(l, j, m.DataDir()); err != nil {
		t.Fatal(err)
	}
	if err := m.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h, n := hashKV(t, c, m); h != hash || n != keys {
		t.Fatalf("after defrag-offline: hash %d keys %d, want %d and %d", h, n, hash, keys)
	}
	// It applied entries since (its election): undo must not take them back.
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	after := sums(t, m.DataDir())
	_, err = Undo(context.Background(), l, j, UndoOptions{})
	if err == nil || !strings.Contains(err.Error(), "applied entries") {
		t.Fatalf("undo after the member ran: %v; want a refusal", err)
	}
	sameSums(t, after, sums(t, m.DataDir()))
}

func TestCheckSpaceRefusesBeforeAnything(t *testing.T) {
	dir := t.TempDir()
	err := CheckSpace(SpaceNeed{Dir: filepath.Join(dir, "not/yet"), Bytes: math.MaxInt64 / 2})
	if !errors.Is(fault.Kind(err), fault.Refused) || !strings.Contains(err.Error(), "not enough free space") {
		t.Fatalf("err = %v", err)
	}
	if err := CheckSpace(SpaceNeed{Dir: dir, Bytes: 1}); err != nil {
		t.Fatal(err)
	}
}
