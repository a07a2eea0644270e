package snapshot_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// For every etcd release line: a snapshot saved by etcdmedic from a server of
// that version, restored by etcdmedic (etcdutl v3.7 code, with revision bump),
// starts under that version's server binary, and under every other version
// but the one etcd's downgrade rule forbids, with every key and value intact.
func TestRestoreCompatibility(t *testing.T) {
	bins := playgroundtest.ReleaseBinaries(t)
	var versions []string
	for _, line := range []string{"v3.5", "v3.6", "v3.7"} {
		versions = append(versions, latest(bins, line))
	}
	sort.Strings(versions)
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			b := bins[v]
			c := playgroundtest.Start(t, playground.Options{Members: 1, EtcdBinary: b.Etcd})
			playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 100, ConfigMaps: 20, Events: 50})
			cli := playgroundtest.Client(t, c)
			for i := 0; i < 20; i++ {
				if _, err := cli.Put(context.Background(), fmt.Sprintf("/compat/%d", i%5), strings.Repeat("c", i)); err != nil {
					t.Fatal(err)
				}
			}
			out := save(t, env(c), t.TempDir())
			if !strings.HasPrefix("v"+out.Save.Metadata.EtcdVersion, v[:len("v3.5")]) {
				t.Errorf("metadata etcd version %q, server is %s", out.Save.Metadata.EtcdVersion, v)
			}
			want := dump(t, cli, out.Save.Metadata.Revision)
			dataDir := filepath.Join(t.TempDir(), "restored")
			peer := fmt.Sprintf("http://127.0.0.1:%d", playgroundtest.FreePort(t))
			if r := clitest.Run(t, nil, "snapshot", "restore", out.Save.Path, "--data-dir", dataDir, "--name", "r1",
				"--initial-cluster", "r1="+peer, "--initial-advertise-peer-urls", peer); r.Code != 0 {
				t.Fatalf("restore exit %d", r.Code)
			}
			rcli := playgroundtest.ServeDataDir(t, b.Etcd, dataDir, "r1", peer)
			got := dump(t, rcli, 0)
			delete(got, "health-probe")
			equalMaps(t, got, want)

			// Every other server version: newer ones upgrade the data in
			// place; v3.5 ignores the storage version; v3.6 refuses a v3.7
			// database (etcd's downgrade rule: downgrade the live cluster with
			// 'etcdctl downgrade' before taking the snapshot).
			for _, other := range versions {
				if other == v {
					continue
				}
				// A peer URL of its own: the restored member of version v
				// still runs on the first one.
				peer := fmt.Sprintf("http://127.0.0.1:%d", playgroundtest.FreePort(t))
				dd := filepath.Join(t.TempDir(), "restored")
				r := clitest.Run(t, nil, "snapshot", "restore", out.Save.Path, "--data-dir", dd, "--name", "r1",
					"--initial-cluster", "r1="+peer, "--initial-advertise-peer-urls", peer)
				if r.Code != 0 {
					t.Fatalf("restore exit %d", r.Code)
				}
				// restore warns exactly when a v3.6 server would refuse the data dir
				if warned := strings.Contains(r.Stdout, "etcd v3.6 servers refuse this data dir"); warned != strings.HasPrefix(v, "v3.7") {
					t.Errorf("restore of a %s snapshot: v3.6 warning shown=%v\n%s", v, warned, r.Stdout)
				}
				refused := strings.HasPrefix(v, "v3.7") && strings.HasPrefix(other, "v3.6")
				if refused {
					log := startEtcdExpectExit(t, bins[other].Etcd, dd, "r1", peer)
					if !strings.Contains(log, `version \"3.7.0\" is not supported`) {
						t.Errorf("%s on a %s snapshot: want the storage-version refusal, log:\n%s", other, v, tail(log, 1500))
					}
					for _, line := range strings.Split(log, "\n") {
						if strings.Contains(line, "not supported") {
							t.Logf("%s refuses a %s snapshot, as documented: %.160s", other, v, line)
							break
						}
					}
					continue
				}
				ocli := playgroundtest.ServeDataDir(t, bins[other].Etcd, dd, "r1", peer)
				got := dump(t, ocli, 0)
				delete(got, "health-probe")
				equalMaps(t, got, want)
			}
		})
	}
}
