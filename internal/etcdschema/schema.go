// Package etcdschema names what etcd keeps in its bolt file: buckets, meta
// keys, revision keys and member records, as etcd v3.5–v3.7 write them
// (go.etcd.io/etcd/server/v3/storage/schema and storage/mvcc). They are read
// here instead of importing those packages because importing them links
// etcd's server (backend, mvcc, membership, auth, ...), whose package
// initialisation registers dozens of metrics in every etcdmedic command,
// status and version included. A test checks every name and decoder against
// etcd's own.
package etcdschema

import (
	"encoding/binary"

	"github.com/coreos/go-semver/semver"
	bolt "go.etcd.io/bbolt"
)

// Buckets.
var (
	KeyBucket     = []byte("key")
	MetaBucket    = []byte("meta")
	MembersBucket = []byte("members")
)

// Keys of the meta bucket.
var (
	ConsistentIndexKey = []byte("consistent_index")
	TermKey            = []byte("term")
	StorageVersionKey  = []byte("storageVersion")
)

// RevisionKeyLen is the length of a key-bucket key: 8 bytes of main
// revision (big-endian), '_', 8 bytes of sub revision; a tombstone adds 't'.
const RevisionKeyLen = 8 + 1 + 8

// MainRevision is the main revision of a key-bucket key (at least
// RevisionKeyLen bytes long).
func MainRevision(k []byte) int64 { return int64(binary.BigEndian.Uint64(k)) }

// IsTombstone reports whether a key-bucket key marks a deletion.
func IsTombstone(k []byte) bool { return len(k) == RevisionKeyLen+1 && k[RevisionKeyLen] == 't' }

// Member is one record of the members bucket (membership.Member's JSON).
type Member struct {
	ID         uint64   `json:"id"`
	PeerURLs   []string `json:"peerURLs"`
	IsLearner  bool     `json:"isLearner,omitempty"`
	Name       string   `json:"name,omitempty"`
	ClientURLs []string `json:"clientURLs,omitempty"`
}

// StorageVersion is the storage version etcd v3.6+ records in the meta
// bucket, nil when absent or unreadable (v3.5 records none).
func StorageVersion(tx *bolt.Tx) *semver.Version {
	meta := tx.Bucket(MetaBucket)
	if meta == nil {
		return nil
	}
	v, err := semver.NewVersion(string(meta.Get(StorageVersionKey)))
	if err != nil {
		return nil
	}
	return v
}
