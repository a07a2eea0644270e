package keyscope

import (
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/grpc/encoding"
	gproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// A RangeStream chunk is etcd's whole answer to one internal range: a few
// MB on the wire (etcd aims at its --max-request-bytes), tens of thousands
// of keys. Decoded at once, as the generated client does, every key is a
// KeyValue struct plus copies of its bytes, twice to three times the wire
// size, and all of it lives until the last page of the chunk is handed
// out. The pager keeps the chunk as received and decodes one page at a
// time instead.

// rawCodec sends requests as protobuf and hands a received message over as
// its wire bytes (*[]byte), for chunk to read.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return encoding.GetCodecV2(gproto.Name).Marshal(v)
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec: cannot decode into %T", v)
	}
	*b = data.Materialize() // gRPC reuses data's buffers once this returns
	return nil
}

func (rawCodec) Name() string { return gproto.Name }

// chunk is one RangeStreamResponse, read a page at a time.
type chunk struct {
	rest []byte // the fields of its RangeResponse not read yet
	kvs  int    // key-values left in rest
	last bool   // it carries the header: the stream's last chunk
}

// RangeStreamResponse{range_response = 1}; RangeResponse{header = 1, kvs = 2, more = 3, count = 4}.
const (
	fieldRangeResponse protowire.Number = 1
	fieldHeader        protowire.Number = 1
	fieldKVs           protowire.Number = 2
)

// parseChunk indexes a RangeStreamResponse's wire bytes: where its
// RangeResponse is, how many key-values it holds, whether it is the last.
func parseChunk(b []byte) (*chunk, error) {
	c := &chunk{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("range stream chunk: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if num == fieldRangeResponse && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, fmt.Errorf("range stream chunk: %w", protowire.ParseError(m))
			}
			c.rest = v
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil, fmt.Errorf("range stream chunk: %w", protowire.ParseError(m))
		}
		b = b[m:]
	}
	for r := c.rest; len(r) > 0; {
		num, typ, n := protowire.ConsumeTag(r)
		if n < 0 {
			return nil, fmt.Errorf("range stream chunk: %w", protowire.ParseError(n))
		}
		m := protowire.ConsumeFieldValue(num, typ, r[n:])
		if m < 0 {
			return nil, fmt.Errorf("range stream chunk: %w", protowire.ParseError(m))
		}
		switch {
		case num == fieldKVs && typ == protowire.BytesType:
			c.kvs++
		case num == fieldHeader && typ == protowire.BytesType:
			c.last = true
		}
		r = r[n+m:]
	}
	return c, nil
}

// next decodes up to n of the chunk's key-values (copies: nothing handed
// out keeps the chunk's buffer alive).
func (c *chunk) next(n int64) ([]*mvccpb.KeyValue, error) {
	kvs := make([]*mvccpb.KeyValue, 0, min(int64(c.kvs), max(n, 1)))
	for len(c.rest) > 0 && len(kvs) < cap(kvs) {
		num, typ, t := protowire.ConsumeTag(c.rest)
		if t < 0 {
			return nil, fmt.Errorf("range stream chunk: %w", protowire.ParseError(t))
		}
		if num != fieldKVs || typ != protowire.BytesType {
			m := protowire.ConsumeFieldValue(num, typ, c.rest[t:])
			if m < 0 {
				return nil, fmt.Errorf("range stream chunk: %w", protowire.ParseError(m))
			}
			c.rest = c.rest[t+m:]
			continue
		}
		v, m := protowire.ConsumeBytes(c.rest[t:])
		if m < 0 {
			return nil, fmt.Errorf("range stream chunk: %w", protowire.ParseError(m))
		}
		kv := &mvccpb.KeyValue{}
		if err := proto.Unmarshal(v, kv); err != nil {
			return nil, fmt.Errorf("range stream chunk: %w", err)
		}
		kvs = append(kvs, kv)
		c.rest = c.rest[t+m:]
		c.kvs--
	}
	if c.kvs == 0 {
		c.rest = nil // the buffer goes with the last page
	}
	return kvs, nil
}
