package playgroundtest

import (
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/playground"
)

// Open connects etcdmedic's cluster model to every member of c, as a
// capability gets it from a command (closed when the test ends).
func Open(t testing.TB, c *playground.Cluster) *cluster.Cluster {
	t.Helper()
	cl, err := cluster.Open(&cluster.Config{Endpoints: c.Endpoints(), DialTimeout: 2 * time.Second, CommandTimeout: 10 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
