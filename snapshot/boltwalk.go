package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/etcdmedic/etcdmedic/internal/etcdschema"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/protowire"
)

// walkMode says how much of the content the bolt walk reads.
type walkMode int

const (
	// walkFull is etcdutl's snapshot status, value for value: the same
	// revision, live key count, storage version and crc32 hash.
	walkFull walkMode = iota
	// walkStructure leaves out the crc32 over every value. Save uses it:
	// the content is already proven by etcd's appended sha256, and skipping
	// the values means large ones in overflow pages are never read again.
	walkStructure
)

// checkBolt is bolt's consistency check, etcdutl's first step. It runs on
// a goroutine of bbolt's own, where a fault on a damaged page cannot be
// recovered (nor a panic of its free-page rebuild): only on content a hash
// vouched for or the pointer proof (checkPointers) passed.
func checkBolt(tx *bolt.Tx) error {
	var problems []string
	for e := range tx.Check() {
		problems = append(problems, e.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("bolt consistency check found %d problems: %s", len(problems), strings.Join(problems, "; "))
	}
	return nil
}

// walkContent reads an etcd bolt database the way etcdutl's snapshot
// status does after bolt's consistency check (checkBolt, or the pointer
// proof where it covers that check: the caller runs it beside this):
// every bucket in order, and the consistent index and term from the meta
// bucket. Where etcdutl unmarshals each revision's KeyValue, copying its
// value, only to learn the user key, this reads field 1 of the protobuf
// in place.
//
// trim, when set, is called every trimBytes of keys and values read: the
// caller drops the mapping's pages touched so far (see trimMapped). abort,
// when set, is asked every abortEvery revisions: true ends the walk with
// errAborted.
func walkContent(tx *bolt.Tx, mode walkMode, trim func(), abort func() bool) (st dbStatus, err error) {
	st.TotalSize = tx.Size()
	if v := etcdschema.StorageVersion(tx); v != nil {
		st.Version = v.String()
	}
	if meta := tx.Bucket(etcdschema.MetaBucket); meta != nil {
		if v := meta.Get(etcdschema.ConsistentIndexKey); len(v) == 8 {
			st.ConsistentIndex = binary.BigEndian.Uint64(v)
		}
		if v := meta.Get(etcdschema.TermKey); len(v) == 8 {
			st.Term = binary.BigEndian.Uint64(v)
		}
	}

	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	live := newKeySet()
	seen, read := 0, 0
	c := tx.Cursor()
	for name, _ := c.First(); name != nil; name, _ = c.Next() {
		b := tx.Bucket(name)
		if b == nil {
			return st, fmt.Errorf("nil bucket: %q", name)
		}
		isKeyBucket := bytes.Equal(name, etcdschema.KeyBucket)
		if mode == walkStructure && !isKeyBucket {
			continue
		}
		if mode == walkFull {
			h.Write(name)
		}
		err := b.ForEach(func(k, v []byte) error {
			if mode == walkFull {
				h.Write(k)
				h.Write(v)
			}
			if read += len(k) + len(v); read >= trimBytes && trim != nil {
				read = 0
				trim()
			}
			if !isKeyBucket {
				return nil
			}
			if len(k) < etcdschema.RevisionKeyLen {
				return fmt.Errorf("cannot parse revision key %q", k)
			}
			st.Revision = etcdschema.MainRevision(k)
			if seen++; abort != nil && seen%abortEvery == 0 && abort() {
				return errAborted
			}
			userKey, err := kvKey(v, mode == walkStructure)
			if err != nil {
				return fmt.Errorf("cannot unmarshal value of revision key %q: %w", k, err)
			}
			if etcdschema.IsTombstone(k) {
				live.remove(userKey)
			} else {
				live.add(userKey)
			}
			return nil
		})
		if err != nil {
			return st, fmt.Errorf("bucket %q: %w", name, err)
		}
	}
	st.TotalKey = live.len()
	if mode == walkFull {
		st.Hash = h.Sum32()
	}
	return st, nil
}

// errAborted ends a walk whose result is no longer wanted.
var errAborted = errors.New("bolt read aborted")

// trimBytes is how much of the mapping walkContent reads between trims: a
// trim drops every page mapped so far, and the pages the walk is on fault
// back in, so trimming per few keys costs more in faults than it saves.
const trimBytes = 8 << 20

// abortEvery is how many revisions walkContent reads between asking abort.
const abortEvery = 256

// kvKey returns field 1 (key) of a serialized mvccpb.KeyValue without
// decoding the rest. first stops at the first field 1: etcd writes it
// first, and the rest of a large value is then never touched (the walk of
// a save, whose bytes etcd's sha256 vouched for, needs no more).
func kvKey(b []byte, first bool) ([]byte, error) {
	var key []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			key, b = v, b[n:] // the last occurrence wins, as in proto.Unmarshal
			if first {
				return key, nil
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
	}
	if key == nil {
		return []byte{}, nil
	}
	return key, nil
}
