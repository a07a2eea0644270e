package keyscope

import (
	"bytes"
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// split cuts b into buffers of size n, as gRPC's receive buffers cut a message.
func split(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n:n])
		b = b[n:]
	}
	return append(out, b)
}

// Wherever the receive buffers cut a chunk (inside a tag, a length, a key,
// a value), its pages decode to what proto.Unmarshal reads, and no page
// passes its key count or, beyond its first key-value, its byte budget.
func TestChunkDecodesAcrossBufferBoundaries(t *testing.T) {
	var want []*mvccpb.KeyValue
	for i := range 40 {
		kv := &mvccpb.KeyValue{Key: fmt.Appendf(nil, "/registry/pods/ns-%d/p-%d", i%3, i), CreateRevision: int64(i + 1),
			ModRevision: int64(1000 + i), Version: int64(i % 5), Lease: int64(i % 2 * 7)}
		if i%4 != 0 { // every fourth without a value
			kv.Value = bytes.Repeat([]byte{byte('a' + i%26)}, i*37%300)
		}
		want = append(want, kv)
	}
	for _, last := range []bool{false, true} {
		msg := &pb.RangeStreamResponse{RangeResponse: &pb.RangeResponse{Kvs: want}}
		if last {
			msg.RangeResponse.Header, msg.RangeResponse.Count = &pb.ResponseHeader{Revision: 99}, 40
		}
		wire, err := proto.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range []int{1, 2, 3, 7, 16, 100, 1000, len(wire)} {
			t.Run(fmt.Sprintf("last=%v/buffers of %d", last, size), func(t *testing.T) {
				c, err := parseChunk(split(wire, size))
				if err != nil {
					t.Fatal(err)
				}
				if c.kvs != len(want) || c.last != last {
					t.Fatalf("indexed %d key-values, last %v; want %d, %v", c.kvs, c.last, len(want), last)
				}
				var got []*mvccpb.KeyValue
				for c.kvs > 0 {
					page, err := c.next(7, 500)
					if err != nil {
						t.Fatal(err)
					}
					var b int
					for _, kv := range page {
						b += proto.Size(kv)
					}
					if len(page) == 0 || len(page) > 7 || (len(page) > 1 && b > 500) {
						t.Fatalf("page of %d key-values, %d bytes: want 1 to 7, at most 500 bytes beyond the first", len(page), b)
					}
					got = append(got, page...)
				}
				if len(got) != len(want) {
					t.Fatalf("decoded %d key-values, want %d", len(got), len(want))
				}
				for i := range want {
					if !proto.Equal(got[i], want[i]) {
						t.Fatalf("key-value %d: got %v, want %v", i, got[i], want[i])
					}
				}
			})
		}
	}
}

// A chunk cut short is an error, not a short page.
func TestChunkTruncated(t *testing.T) {
	msg := &pb.RangeStreamResponse{RangeResponse: &pb.RangeResponse{Kvs: []*mvccpb.KeyValue{{Key: []byte("/a"), Value: []byte("value")}}}}
	wire, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n < len(wire); n++ {
		if _, err := parseChunk(split(wire[:n], 3)); err == nil {
			t.Fatalf("cut at %d of %d bytes: no error", n, len(wire))
		}
	}
}
