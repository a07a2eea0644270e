package snapshot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestMain(m *testing.M) {
	playground.RunMemberIfRequested()
	os.Exit(m.Run())
}

func env(c *playground.Cluster) func(string) string {
	return playgroundtest.Env("ETCDCTL_ENDPOINTS", c.Endpoints()[0])
}

type saveJSON struct {
	Save struct {
		Path     string `json:"path"`
		Metadata struct {
			File, ClusterID, MemberID, SHA256, EtcdVersion string
			Revision                                       int64
			RaftIndex                                      uint64
			Size, DBSize                                   int64
			TotalKeys                                      int
			Verified                                       bool
		} `json:"metadata"`
		Source    struct{ MemberID, Name, Reason string } `json:"source"`
		CleanedUp []string                                `json:"cleanedUp"`
	} `json:"save"`
	Prune *struct{ Deleted []string } `json:"prune"`
	Error string                      `json:"error"`
}

func save(t *testing.T, getenv func(string) string, args ...string) saveJSON {
	t.Helper()
	r := clitest.Run(t, getenv, append([]string{"snapshot", "save", "-o", "json", "--command-timeout", "20s"}, args...)...)
	var out saveJSON
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("save output: %v", err)
	}
	if r.Code != 0 {
		t.Fatalf("save exit %d: %s", r.Code, r.Stderr)
	}
	return out
}

// dump reads every key and value at one revision.
func dump(t *testing.T, cli *clientv3.Client, rev int64) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := []clientv3.OpOption{clientv3.WithFromKey()}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := cli.Get(ctx, "\x00", opts...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func equalMaps(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("restored %d keys, source had %d", len(got), len(want))
	}
	bad := 0
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			bad++
			if bad <= 5 {
				t.Errorf("key %q: restored %q (present %v), source %q", k, tail(g, 40), ok, tail(v, 40))
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d keys differ", bad, len(want))
	}
}

func clientv3WithRev(rev int64) []clientv3.OpOption {
	return []clientv3.OpOption{clientv3.WithRev(rev)}
}

// startEtcdExpectExit runs etcd on dataDir expecting it to refuse to start,
// and returns its log.
func startEtcdExpectExit(t *testing.T, bin, dataDir, name, peerURL string) string {
	t.Helper()
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", playgroundtest.FreePort(t))
	cmd := exec.Command(bin, "--name", name, "--data-dir", dataDir,
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", name+"="+peerURL)
	done := make(chan struct{})
	var out []byte
	go func() { out, _ = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
		return string(out)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s started on %s; it was expected to refuse", bin, dataDir)
		return ""
	}
}
