package keyscope

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// wire reads protobuf wire bytes spread over several buffers (gRPC's
// receive buffers, 16 KB each) without joining them: a field that lies in
// one buffer is a slice of it, only one that straddles two is copied.
// A wire is a value: a copy of it is a position to go back to.
type wire struct {
	bufs [][]byte // bufs[0][off:] is the next byte; no buffer is left empty
	off  int
}

func newWire(bufs [][]byte) wire {
	w := wire{bufs: bufs}
	w.advance(0)
	return w
}

func (w *wire) empty() bool { return len(w.bufs) == 0 }

// advance moves n bytes on, reporting whether there were as many.
func (w *wire) advance(n int) bool {
	w.off += n
	for len(w.bufs) > 0 && w.off >= len(w.bufs[0]) {
		w.off -= len(w.bufs[0])
		w.bufs = w.bufs[1:]
	}
	if len(w.bufs) == 0 && w.off > 0 {
		return false
	}
	return true
}

func (w *wire) uvarint() (uint64, error) {
	if w.empty() {
		return 0, fmt.Errorf("%w: truncated varint", errChunk)
	}
	cur := w.bufs[0][w.off:]
	if v, n := protowire.ConsumeVarint(cur); n > 0 {
		w.advance(n)
		return v, nil
	}
	// It straddles buffers (or is malformed): gather its at most 10 bytes.
	var tmp [binary64Len]byte
	k := 0
	for i, o := 0, w.off; i < len(w.bufs) && k < len(tmp); i, o = i+1, 0 {
		k += copy(tmp[k:], w.bufs[i][o:])
	}
	v, n := protowire.ConsumeVarint(tmp[:k])
	if n < 0 {
		return 0, fmt.Errorf("%w: %w", errChunk, protowire.ParseError(n))
	}
	w.advance(n)
	return v, nil
}

const binary64Len = 10 // the longest varint

func (w *wire) tag() (protowire.Number, protowire.Type, error) {
	v, err := w.uvarint()
	if err != nil {
		return 0, 0, err
	}
	num, typ := protowire.DecodeTag(v)
	if num < protowire.MinValidNumber {
		return 0, 0, fmt.Errorf("%w: field number %d", errChunk, num)
	}
	return num, typ, nil
}

// bytes reads the next n bytes: a slice of the buffer they lie in, or a
// copy where they straddle two.
func (w *wire) bytes(n int) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if w.empty() {
		return nil, fmt.Errorf("%w: truncated field", errChunk)
	}
	if cur := w.bufs[0][w.off:]; n <= len(cur) {
		w.advance(n)
		return cur[:n:n], nil
	}
	out := make([]byte, 0, n)
	for len(out) < n && !w.empty() {
		cur := w.bufs[0][w.off:]
		take := min(len(cur), n-len(out))
		out = append(out, cur[:take]...)
		w.advance(take)
	}
	if len(out) < n {
		return nil, fmt.Errorf("%w: truncated field", errChunk)
	}
	return out, nil
}

// sub reads a length-delimited field as a wire of its own.
func (w *wire) sub() (wire, error) {
	l, err := w.uvarint()
	if err != nil {
		return wire{}, err
	}
	var out [][]byte
	for left := int(l); left > 0; {
		if w.empty() {
			return wire{}, fmt.Errorf("%w: truncated message", errChunk)
		}
		cur := w.bufs[0][w.off:]
		take := min(len(cur), left)
		out = append(out, cur[:take:take])
		w.advance(take)
		left -= take
	}
	return wire{bufs: out}, nil
}

// skipField moves past the value of a field of type typ.
func (w *wire) skipField(typ protowire.Type) error {
	var n int
	switch typ {
	case protowire.VarintType:
		_, err := w.uvarint()
		return err
	case protowire.Fixed32Type:
		n = 4
	case protowire.Fixed64Type:
		n = 8
	case protowire.BytesType:
		l, err := w.uvarint()
		if err != nil {
			return err
		}
		n = int(l)
	default:
		return fmt.Errorf("%w: wire type %d", errChunk, typ)
	}
	if !w.advance(n) {
		return fmt.Errorf("%w: truncated field", errChunk)
	}
	return nil
}
