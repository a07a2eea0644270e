package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	etcdutl "go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestMain(m *testing.M) {
	playground.RunMemberIfRequested()
	os.Exit(m.Run())
}

// The walk must say exactly what etcdutl's snapshot status says, on real
// snapshots with overwrites, tombstones, re-created keys, leases, a
// compaction and values large enough for overflow pages.
func TestWalkMatchesEtcdutlStatus(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	cli := playgroundtest.Client(t, c)
	ctx := context.Background()
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 300, ConfigMaps: 50, Events: 100, Leases: 10})
	snapshots := map[string]string{}
	take := func(name string) {
		path := filepath.Join(t.TempDir(), name+".db")
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		rc, err := cli.Snapshot(sctx)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(f, rc); err != nil {
			t.Fatal(err)
		}
		f.Close()
		snapshots[name] = path
	}
	take("seeded")

	put := func(k, v string) {
		if _, err := cli.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 40; i++ {
		put(fmt.Sprintf("/walk/k%02d", i%10), strings.Repeat("v", i*50))
	}
	put("/walk/big", strings.Repeat("B", 300<<10))                                // overflow pages
	if _, err := cli.Delete(ctx, "/walk/k0", clientv3.WithPrefix()); err != nil { // k00..k09: tombstones
		t.Fatal(err)
	}
	put("/walk/k03", "re-created after its tombstone")
	lease, err := cli.Grant(ctx, 600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "/walk/leased", "x", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "", "x"); err == nil {
		t.Fatal("etcd accepted an empty key")
	}
	take("tombstones")
	resp, err := cli.Get(ctx, "health")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision-5, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	take("compacted")

	for name, path := range snapshots {
		t.Run(name, func(t *testing.T) {
			want, err := etcdutl.NewV3(zap.NewNop()).Status(path)
			if err != nil {
				t.Fatal(err)
			}
			full, err := readStatus(path, walkFull)
			if err != nil {
				t.Fatal(err)
			}
			if full.etcdStatus != etcdStatus(want) {
				t.Errorf("full walk %+v, etcdutl %+v", full.etcdStatus, want)
			}
			if full.ConsistentIndex == 0 || full.Term == 0 {
				t.Errorf("consistent index %d, term %d: want both set", full.ConsistentIndex, full.Term)
			}
			structure, err := readStatus(path, walkStructure)
			if err != nil {
				t.Fatal(err)
			}
			want.Hash = 0
			if structure.etcdStatus != etcdStatus(want) || structure.ConsistentIndex != full.ConsistentIndex || structure.Term != full.Term {
				t.Errorf("structure walk %+v, want %+v without the hash", structure, want)
			}
		})
	}
}

func TestKVKey(t *testing.T) {
	for _, kv := range []*mvccpb.KeyValue{
		{Key: []byte("/registry/pods/default/a"), Value: bytes.Repeat([]byte{0xff}, 1000), CreateRevision: 5, ModRevision: 9, Version: 2, Lease: 77},
		{Key: []byte("k"), Value: nil},
		{Key: []byte{0, 1, 2}, ModRevision: 1},
		{},
	} {
		b, err := proto.Marshal(kv)
		if err != nil {
			t.Fatal(err)
		}
		for _, first := range []bool{false, true} {
			got, err := kvKey(b, first)
			if err != nil || !bytes.Equal(got, kv.Key) {
				t.Errorf("kvKey(%x, first=%v) = %q, %v; want %q", b, first, got, err, kv.Key)
			}
		}
	}
	b, _ := proto.Marshal(&mvccpb.KeyValue{Key: []byte("truncated"), Value: []byte("value")})
	if _, err := kvKey(b[:len(b)-2], false); err == nil {
		t.Error("kvKey accepted a truncated message")
	}
}
