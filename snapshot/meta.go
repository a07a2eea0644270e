package snapshot

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// Metadata is written beside every saved snapshot (<file>.meta.json). Its
// JSON field names are part of the CLI contract.
type Metadata struct {
	File        string    `json:"file"`
	Created     time.Time `json:"created"`
	ClusterID   string    `json:"clusterId"`
	MemberID    string    `json:"memberId"`
	MemberName  string    `json:"memberName"`
	EtcdVersion string    `json:"etcdVersion"`
	// StorageVersion is the snapshot's storage version (empty from etcd < 3.6).
	StorageVersion string `json:"storageVersion"`
	Revision       int64  `json:"revision"`
	// RaftIndex is the consistent index stored in the snapshot: the last raft
	// entry applied to it.
	RaftIndex uint64 `json:"raftIndex"`
	RaftTerm  uint64 `json:"raftTerm"`
	// Size and SHA256 are of the file as stored (compressed or not).
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// DBSize and DBSHA256 are of the uncompressed database file.
	DBSize   int64  `json:"dbSize"`
	DBSHA256 string `json:"dbSha256"`
	// TotalKeys is the number of live keys at Revision, as etcdutl counts them.
	TotalKeys int `json:"totalKeys"`
	// Hash is etcdutl's crc32 over every bucket, key and value. Save leaves
	// it out (etcd's appended sha256 already vouches for the content, and
	// the crc would read the whole file again); verify computes and prints it.
	Hash        uint32 `json:"hash,omitempty"`
	Compression string `json:"compression"`
	// Verified is true when etcd's appended sha256 and bolt's consistency
	// check (every page reachable once, keys in order, revision and live
	// keys read) passed before the file got its final name.
	Verified bool   `json:"verified"`
	Tool     string `json:"tool"`
	// Encrypted: the object is age-encrypted to Recipients (public keys
	// only); Size and SHA256 are then of the ciphertext, PlainSize and
	// PlainSHA256 of the stored form inside it (.db or .db.zst).
	Encrypted   bool     `json:"encrypted,omitempty"`
	Recipients  []string `json:"recipients,omitempty"`
	PlainSize   int64    `json:"plainSize,omitempty"`
	PlainSHA256 string   `json:"plainSha256,omitempty"`
	// ObjectChecksumSHA256 is S3's checksum of an object uploaded in parts
	// (x-amz-checksum-sha256, base64, "-" part count): the sha256 of the
	// parts' sha256s, each PartSize bytes but the last. The server checked
	// every part against it on receipt and keeps it with the object.
	ObjectChecksumSHA256 string `json:"objectChecksumSha256,omitempty"`
	PartSize             int64  `json:"partSize,omitempty"`
	// HashKV is the source member's HashKV at Revision, when it answered:
	// a drill compares the restored member's with it.
	HashKV uint32 `json:"hashKV,omitempty"`
}

// ReadMetadata reads a snapshot's metadata file; ok is false when there is none.
func ReadMetadata(path string) (m *Metadata, ok bool, err error) {
	b, err := os.ReadFile(MetaPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	m = &Metadata{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, true, fmt.Errorf("metadata %s: %w", MetaPath(path), err)
	}
	return m, true, nil
}
