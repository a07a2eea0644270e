package health

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// Growth is how fast the keyspace's revision grows, from two Status
// readings of one member a window apart, with what is needed to turn
// revisions into bytes: the in-use DB size, the number of keys and the quota.
type Growth struct {
	Endpoint           string  `json:"endpoint"`
	WindowSeconds      float64 `json:"windowSeconds"`
	Revision           int64   `json:"revision"`
	RevisionsPerSecond float64 `json:"revisionsPerSecond"`
	Keys               int64   `json:"keys"`
	DBSize             int64   `json:"dbSize"`
	DBSizeInUse        int64   `json:"dbSizeInUse"`
	Quota              int64   `json:"quota"`
	// Revisions and InUseGrowth are the changes over the window.
	Revisions   int64 `json:"revisions"`
	InUseGrowth int64 `json:"inUseGrowth"`
}

// minRevisionsForGrowth: bolt allocates pages, not bytes; below this many
// revisions the in-use growth per revision is page-sized noise.
const minRevisionsForGrowth = 100

// BytesPerRevision estimates what one revision adds to the DB: what the
// in-use size grew by over the window per revision, when enough revisions
// were written and no compaction shrank it meanwhile; else the in-use size
// over the keys (every revision writes one version of a key; history kept
// in the file makes that an over- rather than an underestimate).
func (g *Growth) BytesPerRevision() float64 {
	if b, ok := g.measuredBytesPerRevision(); ok {
		return b
	}
	return float64(g.DBSizeInUse) / float64(max(g.Keys, 1))
}

func (g *Growth) measuredBytesPerRevision() (float64, bool) {
	if g.Revisions >= minRevisionsForGrowth && g.InUseGrowth > 0 {
		return float64(g.InUseGrowth) / float64(g.Revisions), true
	}
	return 0, false
}

// SizeSource says where BytesPerRevision comes from.
func (g *Growth) SizeSource() string {
	if _, ok := g.measuredBytesPerRevision(); ok {
		return "in-use growth per revision"
	}
	return "in use per key"
}

// MeasureGrowth reads the revision of the first endpoint that answers, waits
// window, and reads it again; the keys are counted (a serializable,
// count-only range: the member's index, no values) in between. Every call is
// bounded by --command-timeout. flags are the member's etcd flags, for the
// quota when Status does not report it (before etcd 3.6).
func MeasureGrowth(ctx context.Context, c *cluster.Cluster, window time.Duration, flags map[string]string) (*Growth, error) {
	var errs []error
	for _, ep := range c.Config.Endpoints {
		g, err := measureAt(ctx, c, ep, window, flags)
		if err == nil {
			return g, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func measureAt(ctx context.Context, c *cluster.Cluster, ep string, window time.Duration, flags map[string]string) (*Growth, error) {
	read := func() (*pb.StatusResponse, time.Time, error) {
		ctx, cancel := c.WithCommandTimeout(ctx)
		defer cancel()
		st, err := c.StatusOf(ctx, cluster.Member{Endpoint: ep})
		return st, time.Now(), err
	}
	first, t0, err := read()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ep, err)
	}
	keys, err := countKeys(ctx, c, ep)
	if err != nil {
		return nil, fmt.Errorf("%s: count keys: %w", ep, err)
	}
	select {
	case <-time.After(time.Until(t0.Add(window))):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	st, t1, err := read()
	if err != nil {
		return nil, fmt.Errorf("%s: second reading: %w", ep, err)
	}
	g := &Growth{Endpoint: ep, WindowSeconds: t1.Sub(t0).Seconds(), Revision: st.GetHeader().GetRevision(), Keys: keys,
		DBSize: st.GetDbSize(), DBSizeInUse: st.GetDbSizeInUse(), Quota: st.GetDbSizeQuota()}
	g.Revisions = max(g.Revision-first.GetHeader().GetRevision(), 0)
	g.InUseGrowth = st.GetDbSizeInUse() - first.GetDbSizeInUse()
	g.RevisionsPerSecond = float64(g.Revisions) / g.WindowSeconds
	if g.Quota <= 0 {
		g.Quota = cluster.DefaultQuotaBytes
		if q, err := strconv.ParseInt(flags["quota-backend-bytes"], 10, 64); err == nil && q > 0 {
			g.Quota = q
		}
	}
	return g, nil
}

func countKeys(ctx context.Context, c *cluster.Cluster, ep string) (int64, error) {
	ctx, cancel := c.WithCommandTimeout(ctx)
	defer cancel()
	cli, err := c.Client(ctx, ep)
	if err != nil {
		return 0, err
	}
	resp, err := cli.Get(ctx, "", clientv3.WithFromKey(), clientv3.WithCountOnly(), clientv3.WithSerializable())
	if err != nil {
		return 0, err
	}
	return resp.Count, nil
}
