package breakglass

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// kvConn is a client for key-value work and the deadline every call on it
// gets: --command-timeout per call, and per page for paged reads.
type kvConn struct {
	cli      *clientv3.Client
	deadline func(context.Context) (context.Context, context.CancelFunc)
	page     time.Duration
}

// connectVoters opens a client balanced over the cluster's started voters:
// any of them may serve a purge's reads and guarded deletes, and a restore.
func connectVoters(ctx context.Context, c *cluster.Cluster) (kvConn, func(), error) {
	ms, err := c.Members(ctx)
	if err != nil {
		return kvConn{}, nil, err
	}
	cli, err := c.VoterClient(ctx, ms)
	if err != nil {
		return kvConn{}, nil, fmt.Errorf("connect to the voters: %w", err)
	}
	return kvConn{cli: cli, deadline: c.WithCommandTimeout, page: c.Config.CommandTimeout}, func() { cli.Close() }, nil
}
