package breakglass

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func podCountNow(t *testing.T, cli *clientv3.Client) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/registry/pods/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

func phase(p corev1.PodPhase) PodFilter { return PodFilter{Phases: []corev1.PodPhase{p}} }

// A second purge given the first one's --archive used to replace it (or,
// matching nothing, remove it), and undo --pods then restored the second
// purge's pods only, reporting success. A relative --archive was looked up
// under --root by undo. Archives are never overwritten or removed by a later
// run, the journal keeps their absolute path, and undo says what it restored.
func TestReusedArchiveIsRefusedAndUndoRestoresEveryPurge(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	cli := playgroundtest.Client(t, c)
	cl := openCluster(t, c, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	seed, err := playground.Seed(ctx, cli, playground.SeedOptions{Pods: 600, Namespaces: 4, PodPadding: 16, RandSeed: 3})
	if err != nil {
		t.Fatal(err)
	}
	succeeded, failed := seed.Phases[corev1.PodSucceeded], seed.Phases[corev1.PodFailed]
	if succeeded == 0 || failed == 0 {
		t.Fatalf("seed has %d succeeded and %d failed pods", succeeded, failed)
	}
	total := podCountNow(t, cli)
	root, _ := fixtureRoot(t)
	l, j := mustLayout(t, root)
	// A relative --archive, outside the root, from the directory the
	// operator happened to be in.
	elsewhere := t.TempDir()
	t.Chdir(elsewhere)

	first, err := PurgeJournaled(ctx, cl, l, j, PurgeOptions{Filter: phase(corev1.PodSucceeded), Archive: "purge.archive"})
	if err != nil || first.Deleted != succeeded {
		t.Fatalf("first purge: deleted %d of %d: %v", first.Deleted, succeeded, err)
	}
	archive := filepath.Join(elsewhere, "purge.archive")
	sum, err := FileSHA256(archive)
	if err != nil || sum != first.ArchiveSHA256 {
		t.Fatalf("first archive %s: %v", archive, err)
	}
	for name, f := range map[string]PodFilter{"matching other pods": phase(corev1.PodFailed), "matching nothing": {Namespaces: []string{"no-such-namespace"}}} {
		rep, err := PurgeJournaled(ctx, cl, l, j, PurgeOptions{Filter: f, Archive: "purge.archive"})
		if !errors.Is(err, ErrArchiveExists) || !errors.Is(err, fault.Invalid) || rep.Deleted != 0 {
			t.Errorf("second purge %s with the same --archive: deleted %d, err %v; want a refusal", name, rep.Deleted, err)
		}
		if got, err := FileSHA256(archive); err != nil || got != sum {
			t.Fatalf("the first purge's archive was replaced or removed by a purge %s (%v)", name, err)
		}
	}
	if got := podCountNow(t, cli); got != total-int64(succeeded) {
		t.Fatalf("%d pods after the refused purges, want %d", got, total-int64(succeeded))
	}
	second, err := PurgeJournaled(ctx, cl, l, j, PurgeOptions{Filter: phase(corev1.PodFailed)})
	if err != nil || second.Deleted != failed {
		t.Fatalf("second purge: deleted %d of %d: %v", second.Deleted, failed, err)
	}
	// Nothing matching with a fresh path creates no archive at all.
	if rep, err := PurgeJournaled(ctx, cl, l, j, PurgeOptions{Filter: phase(corev1.PodFailed), Archive: "empty.archive"}); err != nil || rep.Matched != 0 {
		t.Fatalf("empty purge: %+v %v", rep, err)
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "empty.archive")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a purge that matched nothing left an archive: %v", err)
	}
	entries, _ := j.Read()
	for _, e := range entries {
		if e.Action == ActPurge && !filepath.IsAbs(e.ArchivePath) {
			t.Errorf("entry #%d archivePath %q is not absolute", e.Seq, e.ArchivePath)
		}
	}

	// Undo from yet another directory.
	t.Chdir(t.TempDir())
	steps, err := Undo(ctx, l, j, UndoOptions{RestorePods: true, Cluster: cl})
	if err != nil {
		t.Fatal(err)
	}
	var restored []int
	for _, s := range steps {
		if s.Action != ActPurge {
			continue
		}
		if s.Result != ResultOK || s.Pods == nil || !strings.Contains(s.Detail, "restored") {
			t.Fatalf("undo step %+v", s)
		}
		if s.Pods.Restored != s.Pods.Archived {
			t.Errorf("undo of #%d restored %d of its %d archived pods", s.Ref, s.Pods.Restored, s.Pods.Archived)
		}
		restored = append(restored, s.Pods.Restored)
	}
	if len(restored) != 2 || restored[0] != failed || restored[1] != succeeded {
		t.Fatalf("undo restored %v pods per purge, newest first; want [%d %d]", restored, failed, succeeded)
	}
	if got := podCountNow(t, cli); got != total {
		t.Fatalf("%d pods after undo, want all %d back", got, total)
	}
}

// A relative --archive (outside --root too) was journaled as given, and undo
// --pods looked for it under the root: "no such file", pods never back.
func TestRelativeArchiveOutsideTheRootIsFoundByUndo(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	cli := playgroundtest.Client(t, c)
	cl := openCluster(t, c, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	seed, err := playground.Seed(ctx, cli, playground.SeedOptions{Pods: 200, Namespaces: 2, PodPadding: 16, RandSeed: 5})
	if err != nil {
		t.Fatal(err)
	}
	total := podCountNow(t, cli)
	root, _ := fixtureRoot(t)
	l, j := mustLayout(t, root)
	t.Chdir(t.TempDir())
	rep, err := PurgeJournaled(ctx, cl, l, j, PurgeOptions{Filter: phase(corev1.PodSucceeded), Archive: "../relative.archive"})
	if err != nil || rep.Deleted != seed.Phases[corev1.PodSucceeded] || rep.Deleted == 0 {
		t.Fatalf("purge: deleted %d: %v", rep.Deleted, err)
	}
	t.Chdir(root)
	steps, err := Undo(ctx, l, j, UndoOptions{RestorePods: true, Cluster: cl})
	if err != nil || len(steps) != 1 || steps[0].Result != ResultOK {
		t.Fatalf("undo --pods: %+v %v", steps, err)
	}
	if got := podCountNow(t, cli); got != total {
		t.Fatalf("%d pods after undo, want %d", got, total)
	}
}
