package snapshot

import (
	"bytes"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// The codec reads what protobuf wrote, field for field, from a message cut
// into frames as gRPC delivers it; the blob aliases the chunk's buffer,
// which goes back to the pool only when the last holder releases it; a
// truncated message is an error, never a short blob.
func TestSnapshotCodecReadsWhatProtobufWrote(t *testing.T) {
	blob := bytes.Repeat([]byte("0123456789abcdef"), 2048) // 32 KiB, etcd's chunk
	msg, err := proto.Marshal(&pb.SnapshotResponse{
		Header:         &pb.ResponseHeader{ClusterId: 7, MemberId: 0xabcdef, Revision: 42, RaftTerm: 3},
		RemainingBytes: 123456, Blob: blob, Version: "3.7.0",
	})
	if err != nil {
		t.Fatal(err)
	}
	frames := func(b []byte) mem.BufferSlice { // 16 KiB HTTP/2 frames
		var s mem.BufferSlice
		for len(b) > 0 {
			n := min(len(b), 16<<10)
			s = append(s, mem.SliceBuffer(b[:n]))
			b = b[n:]
		}
		return s
	}
	var c snapshotChunk
	if err := (snapshotCodec{}).Unmarshal(frames(msg), &c); err != nil {
		t.Fatal(err)
	}
	if c.memberID != 0xabcdef || c.remainingBytes != 123456 || !bytes.Equal(c.blob, blob) {
		t.Fatalf("decoded member %x remaining %d blob %d bytes (equal %v)", c.memberID, c.remainingBytes, len(c.blob), bytes.Equal(c.blob, blob))
	}
	if &c.blob[0] == &msg[len(msg)-len(blob)] {
		t.Fatal("the blob aliases gRPC's frame, which is freed when Unmarshal returns")
	}
	c.hold()
	c.release()
	if c.blob == nil {
		t.Fatal("released while a holder still reads the blob")
	}
	c.release()
	if c.blob != nil || c.buf != nil {
		t.Fatal("the last release did not hand the buffer back")
	}

	for _, cut := range []int{1, len(msg) / 2, len(msg) - 1} {
		var c snapshotChunk
		if err := (snapshotCodec{}).Unmarshal(frames(msg[:cut]), &c); err == nil {
			t.Errorf("a message cut at %d of %d bytes decoded (blob %d bytes)", cut, len(msg), len(c.blob))
		}
	}

	// Anything else goes through protobuf, as the request does.
	var req pb.SnapshotResponse
	if err := (snapshotCodec{}).Unmarshal(frames(msg), &req); err != nil || req.GetHeader().GetMemberId() != 0xabcdef {
		t.Fatalf("proto fallback: %v %v", err, req.GetHeader())
	}
}
