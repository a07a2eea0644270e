package keyscope

import (
	"context"
	"errors"
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Pager reads a key range page by page, every page at one pinned revision.
//
// Where the server streams ranges (etcd 3.7's RangeStream) the range is one
// stream: the server reads it in chunks that never count past themselves,
// so the whole read costs the server about what one unlimited Range of the
// same keys costs (etcd 3.7.3 counts to the range end on every limited Range,
// RangeStream's chunks do not). The chunks are handed out as pages of at
// most PageSize keys, and no page may take longer than the page timeout to
// arrive. Elsewhere (etcd before 3.7, or a chunk larger than the client's
// message limit) it pages with limited Range requests, each confined to the
// narrowest scope around its cursor (see Scoper); a page that outgrows the
// client's message limit is read again a quarter the size.
type Pager struct {
	// PageSize is the limit of the next page; callers may adapt it.
	PageSize int64
	// Rev is the revision every page reads, set before the first page.
	Rev int64
	// NoStream pages with limited Range requests even where the server
	// could stream (to compare the two; or to keep every request short).
	NoStream bool

	cli      *clientv3.Client
	base     string
	rangeEnd string
	cursor   string // next key to read while streaming
	timeout  time.Duration
	opts     []clientv3.OpOption

	sc       *Scoper // limited-range paging, once streaming is off
	st       *stream
	pending  []*mvccpb.KeyValue // the part of a chunk not yet handed out
	streamed bool               // the stream delivered its last chunk
	done     bool
}

type stream struct {
	ch     clientv3.GetStreamChan
	cancel context.CancelFunc
}

// NewPager pages through [cursor, rangeEnd) within the prefix base; opts are
// added to every read (keys only, serializable).
func NewPager(cli *clientv3.Client, base, rangeEnd, cursor string, pageSize int64, timeout time.Duration, opts ...clientv3.OpOption) *Pager {
	return &Pager{PageSize: pageSize, cli: cli, base: base, rangeEnd: rangeEnd, cursor: cursor, timeout: timeout, opts: opts}
}

// Next reads the next page, which may be empty while the range is not done.
// It returns nil and no error once the whole range has been read.
func (p *Pager) Next(ctx context.Context) (*clientv3.GetResponse, error) {
	for !p.done {
		if len(p.pending) > 0 {
			return p.take(), nil
		}
		if p.streamed {
			p.done = true
			break
		}
		if p.sc == nil && p.NoStream {
			p.sc = New(p.base, p.rangeEnd, p.cursor, p.PageSize)
		}
		if p.sc != nil {
			return p.page(ctx)
		}
		if err := p.receive(ctx); err != nil {
			if !fallsBack(err) {
				return nil, err
			}
			// No stream here, or a chunk too large for this client: page
			// on from where the stream got to, at the same revision.
			p.sc = New(p.base, p.rangeEnd, p.cursor, p.PageSize)
		}
	}
	return nil, nil
}

// Done says whether the whole range has been read.
func (p *Pager) Done() bool { return p.done }

// Close ends a stream the caller no longer reads (safe to call at any time).
func (p *Pager) Close() {
	if p.st != nil {
		p.st.cancel()
		ch := p.st.ch
		go func() {
			for range ch { // let the client's receiving goroutine finish
			}
		}()
		p.st = nil
	}
}

// take hands out up to PageSize keys of the current chunk.
func (p *Pager) take() *clientv3.GetResponse {
	n := min(int64(len(p.pending)), max(p.PageSize, 1))
	kvs := p.pending[:n:n]
	p.pending = p.pending[n:]
	p.done = p.streamed && len(p.pending) == 0
	return &clientv3.GetResponse{Header: &pb.ResponseHeader{Revision: p.Rev}, Kvs: kvs, More: !p.done, Count: int64(len(kvs))}
}

// receive waits at most the page timeout for the stream's next chunk,
// opening the stream (and pinning the revision) first if need be.
func (p *Pager) receive(ctx context.Context) error {
	if p.Rev == 0 {
		// One key's count reads nothing but the index entry of one key, and
		// says which revision the whole read will be at.
		pctx, cancel := context.WithTimeout(ctx, p.timeout)
		resp, err := p.cli.Get(pctx, p.cursor, append(append([]clientv3.OpOption{}, p.opts...), clientv3.WithCountOnly())...)
		cancel()
		if err != nil {
			return err
		}
		p.Rev = resp.Header.Revision
	}
	if p.st == nil {
		sctx, cancel := context.WithCancel(ctx)
		opts := append([]clientv3.OpOption{clientv3.WithRange(p.rangeEnd), clientv3.WithRev(p.Rev)}, p.opts...)
		ch, err := p.cli.GetStream(sctx, p.cursor, opts...)
		if err != nil {
			cancel()
			return err
		}
		p.st = &stream{ch: ch, cancel: cancel}
	}
	t := time.NewTimer(p.timeout)
	defer t.Stop()
	select {
	case r, ok := <-p.st.ch:
		if !ok { // closed without its last chunk: the stream was cut
			p.Close()
			return status.Error(codes.Unavailable, "range stream ended early")
		}
		if err := r.Err(); err != nil {
			p.Close()
			return err
		}
		if n := len(r.Kvs); n > 0 {
			p.pending = r.Kvs
			p.cursor = string(r.Kvs[n-1].Key) + "\x00"
		}
		if r.Header != nil { // only the last chunk carries a header
			p.streamed = true
			p.Close()
		}
		return nil
	case <-t.C:
		p.Close()
		return fmt.Errorf("no page within %s: %w", p.timeout, context.DeadlineExceeded)
	case <-ctx.Done():
		p.Close()
		return ctx.Err()
	}
}

// fallsBack says whether a stream error means "page instead".
func fallsBack(err error) bool {
	switch status.Code(errors.Unwrap(err)) {
	case codes.Unimplemented, codes.ResourceExhausted:
		return true
	}
	switch status.Code(err) {
	case codes.Unimplemented, codes.ResourceExhausted:
		return true
	}
	return false
}

// page reads one limited Range in the narrowest scope around the cursor.
func (p *Pager) page(ctx context.Context) (*clientv3.GetResponse, error) {
	for {
		p.sc.SetLimit(p.PageSize)
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
		p.done = !p.sc.Advance(resp)
		return resp, nil
	}
}
