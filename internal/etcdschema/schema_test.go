package etcdschema

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/coreos/go-semver/semver"
	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/client/pkg/v3/types"
	"go.etcd.io/etcd/server/v3/etcdserver/api/membership"
	"go.etcd.io/etcd/server/v3/storage/mvcc"
	"go.etcd.io/etcd/server/v3/storage/schema"
)

// The names are etcd's, byte for byte.
func TestNamesAreEtcds(t *testing.T) {
	for _, c := range []struct {
		name      string
		ours, its []byte
	}{
		{"key bucket", KeyBucket, schema.Key.Name()},
		{"meta bucket", MetaBucket, schema.Meta.Name()},
		{"members bucket", MembersBucket, schema.Members.Name()},
		{"consistent index", ConsistentIndexKey, schema.MetaConsistentIndexKeyName},
		{"term", TermKey, schema.MetaTermKeyName},
		{"storage version", StorageVersionKey, schema.MetaStorageVersionName},
	} {
		if !bytes.Equal(c.ours, c.its) {
			t.Errorf("%s: %q, etcd's is %q", c.name, c.ours, c.its)
		}
	}
}

// Revision keys decode as mvcc decodes them, tombstones included.
func TestRevisionKeysDecodeAsMvcc(t *testing.T) {
	for _, r := range []mvcc.Revision{{Main: 1}, {Main: 12345, Sub: 7}, {Main: 1 << 40, Sub: 1 << 20}} {
		live := mvcc.RevToBytes(r, mvcc.NewRevBytes())
		// etcd marks a deletion by one byte more; mvcc must read it as one.
		tomb := append(append([]byte(nil), live...), 't')
		if !mvcc.IsTombstone(tomb) || mvcc.BytesToRev(tomb) != r {
			t.Fatalf("%v: mvcc does not read %q as its tombstone", r, tomb)
		}
		for _, k := range [][]byte{live, tomb} {
			if got, want := MainRevision(k), mvcc.BytesToRev(k).Main; got != want {
				t.Errorf("%v: main %d, mvcc says %d", r, got, want)
			}
			if got, want := IsTombstone(k), mvcc.IsTombstone(k); got != want {
				t.Errorf("%q: IsTombstone %v, mvcc says %v", k, got, want)
			}
		}
	}
	if len(mvcc.NewRevBytes()) != RevisionKeyLen {
		t.Errorf("RevisionKeyLen %d, mvcc's %d", RevisionKeyLen, len(mvcc.NewRevBytes()))
	}
}

// A member record etcd marshals decodes into Member with every field.
func TestMemberDecodesEtcdsRecord(t *testing.T) {
	m := membership.Member{
		ID:             types.ID(0x8e9e05c52164694d),
		RaftAttributes: membership.RaftAttributes{PeerURLs: []string{"https://10.0.0.1:2380"}, IsLearner: true},
		Attributes:     membership.Attributes{Name: "cp-1", ClientURLs: []string{"https://10.0.0.1:2379"}},
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var got Member
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := Member{ID: 0x8e9e05c52164694d, PeerURLs: m.PeerURLs, IsLearner: true, Name: "cp-1", ClientURLs: m.ClientURLs}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %+v from %s, want %+v", got, b, want)
	}
}

// StorageVersion reads what schema.UnsafeSetStorageVersion writes.
func TestStorageVersionAsEtcdReadsIt(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(MetaBucket)
		if err != nil {
			return err
		}
		if StorageVersion(tx) != nil {
			t.Error("a meta bucket without storageVersion gave a version")
		}
		return b.Put(StorageVersionKey, []byte(semver.Version{Major: 3, Minor: 6}.String()))
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx *bolt.Tx) error {
		got, want := StorageVersion(tx), schema.ReadStorageVersionFromSnapshot(tx)
		if got == nil || want == nil || !got.Equal(*want) {
			t.Errorf("storage version %v, etcd reads %v", got, want)
		}
		return nil
	})
}
