package playgroundtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ServeDataDir runs a real etcd binary as the one member of dataDir (a data
// dir restored for name at peerURL) and returns a client once it serves a
// read; the member stops when the test ends, its log tail shown on failure.
func ServeDataDir(t testing.TB, bin, dataDir, name, peerURL string) *clientv3.Client {
	t.Helper()
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", FreePort(t))
	p := StartProcess(t, bin, "--name", name, "--data-dir", dataDir,
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", name+"="+peerURL, "--log-level", "warn")
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{clientURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	p.PollUntil(t, 90*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := cli.Get(ctx, "probe")
		return err
	})
	return cli
}
