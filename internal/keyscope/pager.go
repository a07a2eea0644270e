package keyscope

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
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
//
// Pages are bounded by bytes too (PageBytes): a streamed page ends before
// the key-value that would pass it; a limited Range is limited to the keys
// that many bytes held on the page before (etcd cannot be asked for bytes),
// and to a few keys until a page has held any.
type Pager struct {
	// PageSize is the limit of the next page; callers may adapt it.
	PageSize int64
	// PageBytes bounds the key and value bytes of a page (at least one
	// key-value); 0 is DefaultPageBytes.
	PageBytes int64
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
	fit      int64   // keys PageBytes held on the last limited page (0: none read yet)
	st       *stream
	pending  *chunk // the chunk being handed out, if any
	streamed bool   // the stream delivered its last chunk
	done     bool
}

// DefaultPageBytes is the byte bound of a page unless PageBytes says
// otherwise: a few of etcd's chunks (it aims at 1.5 MiB), and far below the
// client's message limit.
const DefaultPageBytes = 4 << 20

func (p *Pager) pageBytes() int64 {
	if p.PageBytes > 0 {
		return p.PageBytes
	}
	return DefaultPageBytes
}

// stream is one RangeStream read in this goroutine, chunk by chunk, as
// wire bytes (see chunk). clientv3's GetStream reads ahead in a goroutine
// of its own into a channel: with the chunk being handed out, the one
// queued and the one being decoded, three decoded chunks (each a few MB of
// KeyValues) were alive at once. Here one raw chunk and one decoded page
// are; what arrives meanwhile waits in gRPC's flow-control window.
type stream struct {
	rs     pb.KV_RangeStreamClient
	cancel context.CancelFunc
}

// rangeStreamCall is the request and the per-call options (the client's
// message size limits, wait-for-ready) clientv3 would send for GetStream,
// which it keeps to itself: a KV on a recording KVClient hands both over
// without sending anything.
func rangeStreamCall(cli *clientv3.Client, key string, opts []clientv3.OpOption) (*pb.RangeRequest, []grpc.CallOption) {
	rec := &recorder{}
	_, _ = clientv3.NewKVFromKVClient(rec, cli).GetStream(context.Background(), key, opts...)
	return rec.req, rec.opts
}

type recorder struct {
	pb.KVClient // nil: only RangeStream is called
	req         *pb.RangeRequest
	opts        []grpc.CallOption
}

var errRecorded = errors.New("recorded")

func (r *recorder) RangeStream(_ context.Context, in *pb.RangeRequest, opts ...grpc.CallOption) (pb.KV_RangeStreamClient, error) {
	r.req, r.opts = in, opts
	return nil, errRecorded
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
		if p.pending != nil {
			return p.take()
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
		p.st = nil
	}
}

// take hands out up to PageSize keys (and PageBytes) of the current chunk.
func (p *Pager) take() (*clientv3.GetResponse, error) {
	kvs, err := p.pending.next(max(p.PageSize, 1), p.pageBytes())
	if err != nil {
		p.Close()
		return nil, err
	}
	if n := len(kvs); n > 0 {
		p.cursor = string(kvs[n-1].Key) + "\x00"
	}
	if p.pending.kvs == 0 {
		p.pending = nil
	}
	p.done = p.streamed && p.pending == nil
	return &clientv3.GetResponse{Header: &pb.ResponseHeader{Revision: p.Rev}, Kvs: kvs, More: !p.done, Count: int64(len(kvs))}, nil
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
		req, callOpts := rangeStreamCall(p.cli, p.cursor, append([]clientv3.OpOption{clientv3.WithRange(p.rangeEnd), clientv3.WithRev(p.Rev)}, p.opts...))
		sctx, cancel := context.WithCancel(ctx)
		// clientv3's call options wait for a ready connection: opening the
		// stream is bounded by the page timeout like every page after it.
		var lateOpen atomic.Bool
		t := time.AfterFunc(p.timeout, func() { lateOpen.Store(true); cancel() })
		// The client's connection carries its credentials, token and
		// interceptors; only the read-ahead goroutine is left out.
		rs, err := pb.NewKVClient(p.cli.ActiveConnection()).RangeStream(sctx, req, append(callOpts, grpc.ForceCodecV2(rawCodec{}))...)
		stopped := t.Stop()
		if err != nil || !stopped {
			cancel()
			if lateOpen.Load() {
				return fmt.Errorf("no page within %s: %w", p.timeout, context.DeadlineExceeded)
			}
			return err
		}
		p.st = &stream{rs: rs, cancel: cancel}
	}
	var late atomic.Bool
	cancel := p.st.cancel
	t := time.AfterFunc(p.timeout, func() { late.Store(true); cancel() })
	var raw [][]byte
	err := p.st.rs.RecvMsg(&raw)
	t.Stop()
	err = rpctypes.Error(err) // etcd's errors as clientv3 returns them (ErrCompacted...)
	switch {
	case late.Load():
		p.Close()
		return fmt.Errorf("no page within %s: %w", p.timeout, context.DeadlineExceeded)
	case ctx.Err() != nil:
		p.Close()
		return ctx.Err()
	case errors.Is(err, io.EOF): // ended without its last chunk: the stream was cut
		p.Close()
		return status.Error(codes.Unavailable, "range stream ended early")
	case err != nil:
		p.Close()
		return err
	}
	c, err := parseChunk(raw)
	if err != nil {
		p.Close()
		return err
	}
	if c.kvs > 0 {
		p.pending = c
	}
	if c.last { // only the last chunk carries a header
		p.streamed = true
		p.Close()
	}
	return nil
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
		limit := max(p.PageSize, 1)
		if p.fit > 0 {
			limit = min(limit, p.fit)
		} else {
			limit = min(limit, blindPage)
		}
		p.sc.SetLimit(limit)
		opts := append([]clientv3.OpOption{clientv3.WithRange(p.sc.End()), clientv3.WithLimit(limit), clientv3.WithRev(p.Rev)}, p.opts...)
		pctx, cancel := context.WithTimeout(ctx, p.timeout)
		resp, err := p.cli.Get(pctx, p.sc.Cursor(), opts...)
		cancel()
		if err != nil && status.Code(err) == codes.ResourceExhausted && limit > 1 {
			p.PageSize = max(limit/4, 1)
			continue
		}
		if err != nil {
			return nil, err
		}
		if p.Rev == 0 {
			p.Rev = resp.Header.Revision
		}
		p.done = !p.sc.Advance(resp)
		p.fitBytes(resp)
		return resp, nil
	}
}

// blindPage limits limited pages until one has held keys to size the next
// by: PageSize values of unknown size could be a GB for etcd to read and
// send, to a client that would refuse it past its message limit.
const blindPage = 16

// fitBytes sizes the next limited page from this one: as many keys as
// PageBytes held here, never fewer than one.
func (p *Pager) fitBytes(resp *clientv3.GetResponse) {
	var b int64
	for _, kv := range resp.Kvs {
		b += int64(len(kv.Key) + len(kv.Value))
	}
	if n := int64(len(resp.Kvs)); n > 0 && b > 0 {
		p.fit = max(p.pageBytes()*n/b, 1)
	}
}
