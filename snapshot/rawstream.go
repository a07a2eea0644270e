package snapshot

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// snapshotMethod is the Maintenance.Snapshot RPC, opened by name so that
// its messages go through snapshotCodec.
const snapshotMethod = "/etcdserverpb.Maintenance/Snapshot"

// snapshotChunk is one SnapshotResponse read in place: blob points into a
// buffer of chunkBuffers, handed back with release once the blob is
// written and hashed. Decoding each message into pb.SnapshotResponse cost,
// per 32 KiB chunk, a zeroed buffer from gRPC's default pool to gather the
// message's frames and a second zeroed copy of the blob (a fifth of a
// save's CPU on a two-core control-plane node, where etcd's own work
// competes for the same cores); here the frames are gathered once into a
// recycled buffer and nothing else is copied.
type snapshotChunk struct {
	memberID       uint64
	remainingBytes uint64
	blob           []byte
	buf            *[]byte
	// refs counts who still reads blob: the stream's hasher and a writer
	// that keeps it past its Write (chunkWriter); the last one to release
	// hands the buffer back.
	refs atomic.Int32
}

func (c *snapshotChunk) hold() { c.refs.Add(1) }

func (c *snapshotChunk) release() {
	if c.refs.Add(-1) == 0 && c.buf != nil {
		chunkBuffers.Put(c.buf)
		c.buf, c.blob = nil, nil
	}
}

// chunkWriter is a writer that keeps a chunk's blob after it returns (the
// upload's queue): it holds the chunk and releases it when done with it.
type chunkWriter interface {
	writeChunk(c *snapshotChunk) error
}

// writeChunk writes c to w: through writeChunk where w keeps what it is
// given, else with a Write that does not.
func writeChunk(w io.Writer, c *snapshotChunk) error {
	if cw, ok := w.(chunkWriter); ok {
		return cw.writeChunk(c)
	}
	_, err := w.Write(c.blob)
	return err
}

// chunkBuffers recycles the buffers chunks are gathered into; their old
// content is always overwritten before it is read, so none is cleared.
var chunkBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// snapshotCodec encodes the request as protobuf does and decodes each
// response into a snapshotChunk.
type snapshotCodec struct{}

func (snapshotCodec) Name() string { return "proto" }

func (snapshotCodec) Marshal(v any) (mem.BufferSlice, error) {
	return encoding.GetCodecV2("proto").Marshal(v)
}

func (snapshotCodec) Unmarshal(data mem.BufferSlice, v any) error {
	c, ok := v.(*snapshotChunk)
	if !ok {
		return encoding.GetCodecV2("proto").Unmarshal(data, v)
	}
	buf := chunkBuffers.Get().(*[]byte)
	if n := data.Len(); cap(*buf) < n {
		*buf = make([]byte, n)
	} else {
		*buf = (*buf)[:n]
	}
	data.CopyTo(*buf)
	c.buf = buf
	c.refs.Store(1)
	if err := c.parse(*buf); err != nil {
		c.release()
		return fmt.Errorf("snapshot response: %w", err)
	}
	return nil
}

// parse reads SnapshotResponse's fields: header (1; its member_id, 2),
// remaining_bytes (2) and blob (3); others are skipped. The last
// occurrence of a field wins, as in proto.Unmarshal.
func (c *snapshotChunk) parse(b []byte) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			h, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			id, err := headerMemberID(h)
			if err != nil {
				return fmt.Errorf("header: %w", err)
			}
			c.memberID, b = id, b[n:]
		case num == 2 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			c.remainingBytes, b = v, b[n:]
		case num == 3 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			c.blob, b = v, b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return nil
}

// headerMemberID is ResponseHeader.member_id (field 2).
func headerMemberID(b []byte) (uint64, error) {
	var id uint64
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		b = b[n:]
		if num == 2 && typ == protowire.VarintType {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return 0, protowire.ParseError(n)
			}
			id, b = v, b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		b = b[n:]
	}
	return id, nil
}

// openSnapshotStream starts Maintenance.Snapshot on conn with
// snapshotCodec: RecvMsg takes a *snapshotChunk.
func openSnapshotStream(ctx context.Context, conn *grpc.ClientConn) (grpc.ClientStream, error) {
	sc, err := conn.NewStream(ctx, &grpc.StreamDesc{StreamName: "Snapshot", ServerStreams: true}, snapshotMethod, grpc.ForceCodecV2(snapshotCodec{}))
	if err != nil {
		return nil, err
	}
	if err := sc.SendMsg(&pb.SnapshotRequest{}); err != nil {
		return nil, err
	}
	if err := sc.CloseSend(); err != nil {
		return nil, err
	}
	return sc, nil
}
