package snapshot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// The snapshot to take before forcing a new cluster: with quorum lost (two
// of three SIGKILLed, the survivor past its election timeout) the Snapshot
// RPC still streams the survivor's own backend. save takes it, says why
// that member, and the file is verified at the cluster's last revision.
func TestSaveWithQuorumLostTakesTheSurvivor(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 50, ConfigMaps: 10})
	survivor := c.Member(0)
	cli := playgroundtest.Client(t, c, survivor.ClientURL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	resp, err := cli.Get(ctx, "\x00", clientv3.WithFromKey(), clientv3.WithCountOnly())
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	rev := resp.Header.Revision
	for _, i := range []int{1, 2} {
		if err := c.Member(i).Kill(); err != nil {
			t.Fatal(err)
		}
	}
	// Until its election timeout the survivor still leads (or follows the
	// killed leader); the case here is the one after: no leader at all.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st := clitest.Run(t, nil, "status", "-o", "json", "--endpoints", survivor.ClientURL, "--command-timeout", "2s")
		if strings.Contains(st.Stdout, `"leader": ""`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the survivor still has a leader after 30s")
		}
	}
	out := save(t, playgroundtest.Env("ETCDCTL_ENDPOINTS", strings.Join(c.Endpoints(), ",")), t.TempDir())
	if out.Save.Source.Name != survivor.Name || !strings.Contains(out.Save.Source.Reason, "no leader: quorum may be lost") {
		t.Fatalf("source %+v: want %s, saying there is no leader", out.Save.Source, survivor.Name)
	}
	if m := out.Save.Metadata; !m.Verified || m.Revision != rev {
		t.Fatalf("snapshot metadata %+v: want verified at the cluster's last revision %d", m, rev)
	}
}
