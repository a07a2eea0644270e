package breakglass

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.etcd.io/etcd/server/v3/etcdserver/api/snap"
	"go.etcd.io/etcd/server/v3/storage/datadir"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.uber.org/zap"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/etcdschema"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// boltLockTimeout bounds the wait for bbolt's file lock: a running etcd holds
// it for as long as it runs, so waiting longer only hides that it is running.
const boltLockTimeout = 200 * time.Millisecond

// DataDirState is what one member's data dir says about its data, read offline
// with etcd's own WAL, snap and bbolt code. Nothing in the dir is changed.
type DataDirState struct {
	DataDir   string `json:"dataDir"`
	Name      string `json:"name,omitempty"`
	MemberID  string `json:"memberID,omitempty"`
	ClusterID string `json:"clusterID,omitempty"`
	// WAL: the last entry's index and term, the HardState's commit and term,
	// and the newest snapshot record the WAL replays from.
	WALLastIndex uint64 `json:"walLastIndex"`
	WALLastTerm  uint64 `json:"walLastTerm"`
	WALCommit    uint64 `json:"walCommit"`
	WALTerm      uint64 `json:"walTerm"`
	WALSnapIndex uint64 `json:"walSnapshotIndex"`
	// SnapFile is the newest *.snap file in member/snap, with its index.
	SnapFile  string `json:"snapFile,omitempty"`
	SnapIndex uint64 `json:"snapIndex,omitempty"`
	// From the bolt file: the last applied raft index persisted there, the
	// term, the store's revision, the file's size and the member list.
	ConsistentIndex uint64   `json:"consistentIndex"`
	BoltTerm        uint64   `json:"boltTerm,omitempty"`
	Revision        int64    `json:"revision"`
	DBSizeBytes     int64    `json:"dbSizeBytes"`
	Members         []string `json:"members,omitempty"`
	// Locked: a running etcd holds the bolt file (its flock); the dir is
	// changing under us and is not ranked.
	Locked bool `json:"locked"`
	// Committed is what a --force-new-cluster start keeps:
	// max(WAL commit, consistent index); entries above it are discarded.
	Committed uint64 `json:"committedIndex"`
	// Rank is 1 for the best survivor; 0 when the dir could not be ranked.
	Rank int `json:"rank"`
	// Behind is how many committed entries this dir lacks against the best.
	Behind   uint64   `json:"entriesBehind"`
	Problems []string `json:"problems,omitempty"`

	memberURLs []memberURLs
}

// memberURLs is one member of the bolt file's member list.
type memberURLs struct {
	ID, Name             string
	ClientURLs, PeerURLs []string
}

// Usable says the dir can be ranked: read fully, not held by a running etcd.
func (d *DataDirState) Usable() bool { return !d.Locked && len(d.Problems) == 0 }

// SurvivorsReport ranks the data dirs of one cluster's members.
type SurvivorsReport struct {
	ClusterID string          `json:"clusterID,omitempty"`
	Best      string          `json:"best,omitempty"`
	Dirs      []*DataDirState `json:"dirs"`
}

// ErrClusterMismatch: dirs of different clusters were passed together.
var ErrClusterMismatch = errors.New("data dirs of different clusters")

// Survivors reads every data dir and ranks them by the committed data each
// keeps. Dirs that cannot be read are reported with what is wrong; dirs of
// different clusters are refused as bad input (fault.Invalid), naming them.
func Survivors(dirs []string) (*SurvivorsReport, error) {
	r := &SurvivorsReport{}
	for _, d := range dirs {
		r.Dirs = append(r.Dirs, ReadDataDir(d))
	}
	byCluster := map[string][]string{}
	for _, d := range r.Dirs {
		if d.ClusterID != "" {
			byCluster[d.ClusterID] = append(byCluster[d.ClusterID], d.DataDir)
		}
	}
	if len(byCluster) > 1 {
		var parts []string
		for id, ds := range byCluster {
			parts = append(parts, fmt.Sprintf("cluster %s: %s", id, strings.Join(ds, ", ")))
		}
		sort.Strings(parts)
		return r, fault.Mark(fmt.Errorf("%w: %s", ErrClusterMismatch, strings.Join(parts, "; ")), fault.Invalid)
	}
	for id := range byCluster {
		r.ClusterID = id
	}
	rank(r)
	return r, nil
}

// rank orders usable dirs by the index a forced start keeps, then by the
// raft freshness rule (last term, then last index).
func rank(r *SurvivorsReport) {
	var usable []*DataDirState
	for _, d := range r.Dirs {
		if d.Usable() {
			usable = append(usable, d)
		}
	}
	sort.SliceStable(usable, func(i, j int) bool {
		a, b := usable[i], usable[j]
		if a.Committed != b.Committed {
			return a.Committed > b.Committed
		}
		if a.WALLastTerm != b.WALLastTerm {
			return a.WALLastTerm > b.WALLastTerm
		}
		return a.WALLastIndex > b.WALLastIndex
	})
	for i, d := range usable {
		d.Rank = i + 1
		d.Behind = usable[0].Committed - d.Committed
	}
	if len(usable) > 0 {
		r.Best = usable[0].DataDir
	}
	sort.SliceStable(r.Dirs, func(i, j int) bool {
		a, b := r.Dirs[i], r.Dirs[j]
		if (a.Rank == 0) != (b.Rank == 0) {
			return a.Rank != 0
		}
		return a.Rank < b.Rank
	})
}

// ReadDataDir reads one data dir read-only; what cannot be read is a problem
// on the result, never an error, so the other dirs are still ranked.
func ReadDataDir(dir string) *DataDirState {
	d := &DataDirState{DataDir: dir}
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		d.problem("%v", err)
		return d
	case !st.IsDir():
		d.problem("not a directory")
		return d
	}
	if !wal.Exist(datadir.ToWALDir(dir)) {
		d.problem("not an etcd data dir: no WAL in %s%s", datadir.ToWALDir(dir), dataDirBelow(dir))
	} else {
		d.readWAL(datadir.ToWALDir(dir))
	}
	d.readSnapFile(datadir.ToSnapDir(dir))
	d.readBolt(datadir.ToBackendFileName(dir))
	d.Committed = max(d.WALCommit, d.ConsistentIndex)
	return d
}

func (d *DataDirState) problem(format string, args ...any) {
	d.Problems = append(d.Problems, fmt.Sprintf(format, args...))
}

// readSnapFile reads the newest *.snap file with snap.Read: the Snapshotter's
// own loaders rename a broken file and delete orphaned db.tmp files.
func (d *DataDirState) readSnapFile(snapDir string) {
	entries, err := os.ReadDir(snapDir)
	if err != nil {
		return
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".snap") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return
	}
	sort.Strings(names)
	d.SnapFile = names[len(names)-1]
	s, err := snap.Read(zap.NewNop(), filepath.Join(snapDir, d.SnapFile))
	if err != nil {
		d.problem("snap file %s: %v", d.SnapFile, err)
		return
	}
	d.SnapIndex = s.GetMetadata().GetIndex()
}

// readBolt opens the bolt file read-only (a shared flock, no write) with a
// short lock timeout: a running etcd's exclusive lock is reported, not waited on.
func (d *DataDirState) readBolt(path string) {
	st, err := os.Stat(path)
	if err != nil {
		d.problem("no bolt file: %v", err)
		return
	}
	d.DBSizeBytes = st.Size()
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: boltLockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		d.Locked = true
		return
	}
	if err != nil {
		d.problem("bolt file %s: %v", path, err)
		return
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(etcdschema.MetaBucket); b != nil {
			if v := b.Get(etcdschema.ConsistentIndexKey); len(v) == 8 {
				d.ConsistentIndex = binary.BigEndian.Uint64(v)
			}
			if v := b.Get(etcdschema.TermKey); len(v) == 8 {
				d.BoltTerm = binary.BigEndian.Uint64(v)
			}
		} else {
			return errors.New("no meta bucket: not an etcd bolt file")
		}
		if b := tx.Bucket(etcdschema.KeyBucket); b != nil {
			if k, _ := b.Cursor().Last(); len(k) >= etcdschema.RevisionKeyLen {
				d.Revision = etcdschema.MainRevision(k)
			}
		}
		if b := tx.Bucket(etcdschema.MembersBucket); b != nil {
			_ = b.ForEach(func(k, v []byte) error {
				var m etcdschema.Member
				if json.Unmarshal(v, &m) == nil {
					id := cluster.FormatID(uint64(m.ID))
					d.Members = append(d.Members, m.Name+"="+id)
					d.memberURLs = append(d.memberURLs, memberURLs{ID: id, Name: m.Name, ClientURLs: m.ClientURLs, PeerURLs: m.PeerURLs})
					if id == d.MemberID {
						d.Name = m.Name
					}
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		d.problem("bolt file %s: %v", path, err)
	}
}

// DefaultEtcdDataDir is kubeadm's --data-dir.
const DefaultEtcdDataDir = "/var/lib/etcd"

// EtcdDataDir is the data dir the node's etcd static pod runs on, under the
// layout's root: its --data-dir, else kubeadm's default.
func EtcdDataDir(l *Layout) (string, error) {
	m, err := l.etcdManifest()
	if err != nil {
		return "", err
	}
	// As discovery reads it: RKE2 names it in etcd's --config-file,
	// OpenShift in ETCD_DATA_DIR, kubeadm on the command line.
	dd := l.etcdDataDir(m)
	if dd == "" {
		dd = DefaultEtcdDataDir
	}
	// Through the node's symlinks, which point inside the root, not here.
	return l.Resolve(dd)
}

// etcdManifest is the node's etcd static-pod manifest.
func (l *Layout) etcdManifest() (*Manifest, error) {
	ms, err := l.manifests()
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.Component == Etcd && !m.IsBreakGlass() {
			return m, nil
		}
	}
	return nil, fmt.Errorf("%w: no etcd manifest in %s", ErrNoManifests, l.ManifestDir)
}

// dataDirBelow names a data dir one level down (a member's directory that
// holds etcd's beside its logs and config, as the playground's and some
// installers' do), so the retry is obvious.
func dataDirBelow(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if sub := filepath.Join(dir, e.Name()); e.IsDir() && wal.Exist(datadir.ToWALDir(sub)) {
			return "; " + sub + " is one: --data-dir " + sub
		}
	}
	return ""
}
