package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash"
)

// digest hashes a snapshot in one pass two ways: the whole file (for the
// metadata) and everything but the last 32 bytes, which is what etcd's
// appended integrity hash covers.
type digest struct {
	h    hash.Hash
	tail []byte // the last up to 32 bytes seen, not yet hashed
	n    int64
}

func newDigest() *digest { return &digest{h: sha256.New(), tail: make([]byte, 0, 2*sha256.Size)} }

func (d *digest) Write(p []byte) (int, error) {
	d.n += int64(len(p))
	if len(p) >= sha256.Size {
		d.h.Write(d.tail)
		d.h.Write(p[:len(p)-sha256.Size])
		d.tail = append(d.tail[:0], p[len(p)-sha256.Size:]...)
		return len(p), nil
	}
	d.tail = append(d.tail, p...)
	if extra := len(d.tail) - sha256.Size; extra > 0 {
		d.h.Write(d.tail[:extra])
		d.tail = append(d.tail[:0], d.tail[extra:]...)
	}
	return len(p), nil
}

// integrity is the outcome of checking etcd's appended sha256.
type integrity string

const (
	integrityOK       integrity = "ok"
	integrityMissing  integrity = "missing"  // size is not 512·k + 32: no hash appended (or truncated)
	integrityMismatch integrity = "mismatch" // hash present but the content differs (corrupted or truncated)
)

// finish returns the integrity verdict and the sha256 of the whole stream.
func (d *digest) finish() (integrity, string) {
	prefix := d.h.Sum(nil)
	d.h.Write(d.tail)
	full := hex.EncodeToString(d.h.Sum(nil))
	switch {
	case d.n%512 != sha256.Size:
		return integrityMissing, full
	case !bytes.Equal(prefix, d.tail):
		return integrityMismatch, full
	}
	return integrityOK, full
}
