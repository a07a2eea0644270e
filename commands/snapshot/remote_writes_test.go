package snapshot_test

import (
	"context"
	"fmt"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
	snap "github.com/etcdmedic/etcdmedic/snapshot"
)

// TestRemoteSaveWhileWriting: a member taking writes as fast as it can
// while saves to S3 run. A save whose member's revision moved as its stream
// began cannot stream to a final name (the name carries the revision): it
// uploads its checked spool afterwards. Every save, either way, verifies,
// carries its own revision in its name, and leaves no incomplete upload
// and no object but the snapshots and their metadata.
func TestRemoteSaveWhileWriting(t *testing.T) {
	mc := startMinio(t)
	mc.createBucket("busy")
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 200, ConfigMaps: 20, PodPadding: 2000})
	cli := playgroundtest.Client(t, c)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				cli.Put(pctx, fmt.Sprintf("/busy/%d/%d", w, i%500), strings.Repeat("w", 200))
				cancel()
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()

	u := mc.url("busy", "")
	seen := map[string]int{}
	saves := 0
	for ; saves < 6 && seen[snap.UploadFromSpool] == 0; saves++ {
		out, _ := saveRemote(t, env(c), "--to", u)
		seen[out.Save.Upload]++
		name := path.Base(out.Save.Path)
		n, ok := snap.ParseName(name)
		if !ok || n.Revision != out.Save.Metadata.Revision {
			t.Fatalf("%s: the name's revision is not the metadata's %d", name, out.Save.Metadata.Revision)
		}
		if r := clitest.Run(t, nil, "snapshot", "verify", withName(u, name)); r.Code != 0 {
			t.Fatalf("verify %s: exit %d: %s", name, r.Code, r.Stderr)
		}
	}
	t.Logf("uploads over %d saves: %v", saves, seen)
	if seen[snap.UploadFromSpool] == 0 {
		t.Fatalf("no save under writes uploaded from its spool: %v", seen)
	}
	if left := mc.uploads("busy"); len(left) != 0 {
		t.Fatalf("incomplete uploads left: %v", left)
	}
	if k := mc.keys("busy"); len(k) != 2*saves {
		t.Fatalf("objects after %d saves: %v", saves, k)
	}
}
