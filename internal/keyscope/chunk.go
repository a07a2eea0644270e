package keyscope

import (
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/grpc/encoding"
	gproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// A RangeStream chunk is etcd's whole answer to one internal range: one to
// three MB on the wire (etcd aims at its --max-request-bytes), thousands of
// keys. Decoded as the generated client does, it is copied twice more: once
// into one contiguous message, once more key by key and value by value
// (with values, 270 MB allocated to read 100 MB, and a garbage-collected
// heap twice the size of what was alive at once). The pager keeps the
// chunk in the buffers gRPC received it in and decodes one page at a time,
// each key and value a slice of those buffers: the bytes are allocated
// once, by the read from the socket.

// rawCodec sends requests as protobuf and hands a received message over as
// the receive buffers it arrived in (*[][]byte), which it keeps from gRPC's
// buffer pool: the key-values handed out point into them, and they go with
// the last page that does (to the garbage collector, not back to the pool).
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return encoding.GetCodecV2(gproto.Name).Marshal(v)
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*[][]byte)
	if !ok {
		return fmt.Errorf("raw codec: cannot decode into %T", v)
	}
	data.Ref() // never freed: the pool must not hand these bytes out again
	*b = make([][]byte, 0, len(data))
	for _, buf := range data {
		if d := buf.ReadOnlyData(); len(d) > 0 {
			*b = append(*b, d)
		}
	}
	return nil
}

func (rawCodec) Name() string { return gproto.Name }

// chunk is one RangeStreamResponse, read a page at a time.
type chunk struct {
	rest wire // the fields of its RangeResponse not read yet
	kvs  int  // key-values left in rest
	last bool // it carries the header: the stream's last chunk
}

// RangeStreamResponse{range_response = 1}; RangeResponse{header = 1, kvs = 2, more = 3, count = 4};
// KeyValue{key = 1, create_revision = 2, mod_revision = 3, version = 4, value = 5, lease = 6}.
const (
	fieldRangeResponse protowire.Number = 1
	fieldHeader        protowire.Number = 1
	fieldKVs           protowire.Number = 2
)

var errChunk = errors.New("range stream chunk: malformed")

// parseChunk indexes a RangeStreamResponse's wire bytes: where its
// RangeResponse is, how many key-values it holds, whether it is the last.
func parseChunk(bufs [][]byte) (*chunk, error) {
	c := &chunk{}
	w := newWire(bufs)
	for !w.empty() {
		num, typ, err := w.tag()
		if err != nil {
			return nil, err
		}
		if num == fieldRangeResponse && typ == protowire.BytesType {
			if c.rest, err = w.sub(); err != nil {
				return nil, err
			}
			continue
		}
		if err := w.skipField(typ); err != nil {
			return nil, err
		}
	}
	for r := c.rest; !r.empty(); {
		num, typ, err := r.tag()
		if err != nil {
			return nil, err
		}
		switch {
		case num == fieldKVs && typ == protowire.BytesType:
			c.kvs++
		case num == fieldHeader && typ == protowire.BytesType:
			c.last = true
		}
		if err := r.skipField(typ); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// next decodes up to n of the chunk's key-values, and fewer where the
// key-value bytes of the page would pass budget (at least one). Their keys
// and values point into the chunk's buffers.
func (c *chunk) next(n, budget int64) ([]*mvccpb.KeyValue, error) {
	n = min(int64(c.kvs), max(n, 1))
	// One allocation for the page's structs, not one per key.
	structs := make([]mvccpb.KeyValue, n)
	kvs := make([]*mvccpb.KeyValue, 0, n)
	var bytes int64
	for !c.rest.empty() && int64(len(kvs)) < n {
		at := c.rest
		num, typ, err := c.rest.tag()
		if err != nil {
			return nil, err
		}
		if num != fieldKVs || typ != protowire.BytesType {
			if err := c.rest.skipField(typ); err != nil {
				return nil, err
			}
			continue
		}
		l, err := c.rest.uvarint()
		if err != nil {
			return nil, err
		}
		if len(kvs) > 0 && bytes+int64(l) > budget {
			c.rest = at // the next page starts with this one
			break
		}
		b, err := c.rest.bytes(int(l))
		if err != nil {
			return nil, err
		}
		kv := &structs[len(kvs)]
		if err := decodeKeyValue(b, kv); err != nil {
			return nil, err
		}
		kvs = append(kvs, kv)
		bytes += int64(l)
		c.kvs--
	}
	if c.kvs == 0 {
		c.rest = wire{} // the buffers go with the last page
	}
	return kvs, nil
}

// decodeKeyValue reads one KeyValue from b, its key and value slices of b.
func decodeKeyValue(b []byte, kv *mvccpb.KeyValue) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("range stream chunk: key-value: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case (num == 1 || num == 5) && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return fmt.Errorf("range stream chunk: key-value: %w", protowire.ParseError(m))
			}
			if len(v) == 0 {
				v = nil // as proto.Unmarshal leaves an empty field
			} else {
				v = v[:len(v):len(v)] // an append must not write over the next field
			}
			if num == 1 {
				kv.Key = v
			} else {
				kv.Value = v
			}
			b = b[m:]
		case num >= 2 && num <= 6 && num != 5 && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return fmt.Errorf("range stream chunk: key-value: %w", protowire.ParseError(m))
			}
			switch num {
			case 2:
				kv.CreateRevision = int64(v)
			case 3:
				kv.ModRevision = int64(v)
			case 4:
				kv.Version = int64(v)
			case 6:
				kv.Lease = int64(v)
			}
			b = b[m:]
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return fmt.Errorf("range stream chunk: key-value: %w", protowire.ParseError(m))
			}
			b = b[m:]
		}
	}
	return nil
}
