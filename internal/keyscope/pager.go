package keyscope

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Pager reads a key range page by page, every page at the revision of the
// first one and confined to the narrowest scope around its cursor (see
// Scoper). A page that outgrows the client's message limit is read again a
// quarter the size.
type Pager struct {
	// PageSize is the limit of the next page; callers may adapt it.
	PageSize int64
	// Rev is the revision every page reads, set by the first page.
	Rev int64

	cli     *clientv3.Client
	sc      *Scoper
	timeout time.Duration
	opts    []clientv3.OpOption
	done    bool
}

// NewPager pages through [cursor, rangeEnd) within the prefix base; opts are
// added to every read (keys only, serializable).
func NewPager(cli *clientv3.Client, base, rangeEnd, cursor string, pageSize int64, timeout time.Duration, opts ...clientv3.OpOption) *Pager {
	return &Pager{PageSize: pageSize, cli: cli, sc: New(base, rangeEnd, cursor), timeout: timeout, opts: opts}
}

// Next reads the next page, which may be empty while the range is not done.
// It returns nil and no error once the whole range has been read.
func (p *Pager) Next(ctx context.Context) (*clientv3.GetResponse, error) {
	for !p.done {
		opts := append([]clientv3.OpOption{clientv3.WithRange(p.sc.End()), clientv3.WithLimit(p.PageSize), clientv3.WithRev(p.Rev)}, p.opts...)
		pctx, cancel := context.WithTimeout(ctx, p.timeout)
		resp, err := p.cli.Get(pctx, p.sc.Cursor(), opts...)
		cancel()
		if err != nil && status.Code(err) == codes.ResourceExhausted && p.PageSize > 1 {
			p.PageSize = max(p.PageSize/4, 1)
			continue
		}
		if err != nil {
			return nil, err
		}
		if p.Rev == 0 {
			p.Rev = resp.Header.Revision
		}
		var last string
		if n := len(resp.Kvs); n > 0 {
			last = string(resp.Kvs[n-1].Key)
		}
		p.done = !p.sc.Advance(last, resp.More)
		return resp, nil
	}
	return nil, nil
}

// Done says whether the whole range has been read.
func (p *Pager) Done() bool { return p.done }
