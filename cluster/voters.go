package cluster

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// VoterClient returns a new client balanced over the started voters of the
// member list, for key-value work any healthy voter may serve (reads, purges,
// locks, compaction): a learner never serves linearizable reads, and an
// unstarted member has no URL. Connecting is bounded by --dial-timeout (and
// ctx); waiting for every configured endpoint's member list by
// --command-timeout. It refuses when the configured endpoints
// belong to more than one cluster (OneCluster). The caller closes it. Each call on it still
// needs a deadline: wrap the context with WithCommandTimeout (or, for paged
// reads, one per page).
func (c *Cluster) VoterClient(ctx context.Context, ms *Membership) (*clientv3.Client, error) {
	if err := ms.OneCluster(); err != nil {
		return nil, err
	}
	var eps []string
	for _, m := range ms.Voters() {
		if m.Started() && m.Endpoint != "" {
			eps = append(eps, m.Endpoint)
		}
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("no started voter to connect to: %w", ErrUnreachable)
	}
	return c.NewBalancedClient(ctx, eps)
}
