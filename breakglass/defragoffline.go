package breakglass

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.etcd.io/etcd/etcdutl/v3/etcdutl"
	"go.etcd.io/etcd/server/v3/storage/datadir"
	"go.etcd.io/etcd/server/v3/storage/schema"

	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// ActDefragOffline is a stopped member's bolt file defragmented offline;
// To is the backup dir of the file as it was, SHA256 the backup's digest.
const ActDefragOffline = "defrag-offline"

func init() { undoers[ActDefragOffline] = undoDefragOffline }

// ErrLocked: a running etcd holds the bolt file.
var ErrLocked = fault.Mark(errors.New("the bolt file is held by a running etcd (its file lock): stop that member first, or defragment it online with 'etcdmedic defrag'"), fault.Refused)

// BoltInfo is a bolt file's size, the bytes its pages in use take, and the
// raft index last applied to it.
type BoltInfo struct {
	SizeBytes       int64  `json:"sizeBytes"`
	InUseBytes      int64  `json:"inUseBytes"`
	ConsistentIndex uint64 `json:"consistentIndex"`
}

// ReadBoltInfo opens the bolt file read-only with a short lock timeout and
// rebuilds its freelist in memory (etcd does not persist it) to tell the
// bytes in use. ErrLocked when a running etcd holds it.
func ReadBoltInfo(path string) (BoltInfo, error) {
	var bi BoltInfo
	st, err := os.Stat(path)
	if err != nil {
		return bi, fault.Mark(fmt.Errorf("no bolt file: %w", err), fault.Invalid)
	}
	bi.SizeBytes = st.Size()
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: boltLockTimeout, PreLoadFreelist: true})
	if errors.Is(err, berrors.ErrTimeout) {
		return bi, fmt.Errorf("%s: %w", path, ErrLocked)
	}
	if err != nil {
		return bi, fault.Mark(fmt.Errorf("bolt file %s: %w", path, err), fault.Invalid)
	}
	defer db.Close()
	s := db.Stats()
	err = db.View(func(tx *bolt.Tx) error {
		// The file may be longer than its last page (bolt grows it ahead);
		// in use is up to the last page, less the free ones, as etcd counts.
		bi.InUseBytes = tx.Size() - int64(s.FreePageN+s.PendingPageN)*int64(db.Info().PageSize)
		b := tx.Bucket(schema.Meta.Name())
		if b == nil {
			return errors.New("no meta bucket: not an etcd bolt file")
		}
		if v := b.Get(schema.MetaConsistentIndexKeyName); len(v) == 8 {
			bi.ConsistentIndex = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return bi, fault.Mark(err, fault.Invalid)
}

// DefragOfflineReport is the plan (Done false) or what was done.
type DefragOfflineReport struct {
	DataDir string   `json:"dataDir"` // as on the node
	DB      string   `json:"db"`
	Before  BoltInfo `json:"before"`
	// FragmentedPercent is the share of the file not in use.
	FragmentedPercent float64 `json:"fragmentedPercent"`
	BackupDir         string  `json:"backupDir"`
	// NeedBytes: the backup (the whole file) plus defrag's temp file (the
	// bytes in use), checked against the free space before anything.
	NeedBytes int64     `json:"needBytes"`
	Done      bool      `json:"done"`
	After     *BoltInfo `json:"after,omitempty"`
	// ShrunkPercent is how much smaller the file is after.
	ShrunkPercent float64 `json:"shrunkPercent,omitempty"`
	BackupSHA256  string  `json:"backupSha256,omitempty"`
	TookSeconds   float64 `json:"tookSeconds,omitempty"`
	JournalSeq    int     `json:"journalSeq,omitempty"`
}

// PlanDefragOffline checks a stopped member's data dir (a node path under
// the layout's root) and the space a backup and the defrag need; it changes
// nothing. Refused on a dir a running etcd holds or without the space.
func PlanDefragOffline(l *Layout, dataDir string) (*DefragOfflineReport, error) {
	abs, err := l.Resolve(dataDir)
	if err != nil {
		return nil, fault.Mark(fmt.Errorf("data dir %s: %w", dataDir, err), fault.Invalid)
	}
	db := datadir.ToBackendFileName(abs)
	bi, err := ReadBoltInfo(db)
	if err != nil {
		return nil, err
	}
	r := &DefragOfflineReport{DataDir: l.Rel(abs), DB: l.Rel(db), Before: bi,
		BackupDir: l.Rel(newBackupDir(l.StateDir, "defrag-offline")), NeedBytes: bi.SizeBytes + bi.InUseBytes}
	if bi.SizeBytes > 0 {
		r.FragmentedPercent = 100 * float64(bi.SizeBytes-bi.InUseBytes) / float64(bi.SizeBytes)
	}
	return r, CheckSpace(SpaceNeed{Dir: l.StateDir, Bytes: bi.SizeBytes}, SpaceNeed{Dir: filepath.Dir(db), Bytes: bi.InUseBytes})
}

// DefragOffline backs the bolt file up (checksummed, into the state dir),
// journals it, then runs etcdutl's defrag on the data dir.
func DefragOffline(l *Layout, j *Journal, dataDir string) (*DefragOfflineReport, error) {
	r, err := PlanDefragOffline(l, dataDir)
	if err != nil {
		return nil, err
	}
	db := l.abs(r.DB)
	backup, err := BackupFiles(db, l.abs(r.BackupDir))
	if err != nil {
		return nil, fmt.Errorf("back up %s: %w", r.DB, err)
	}
	r.BackupSHA256 = backup.Files[filepath.Base(db)]
	// Journaled before the defrag: etcd's defrag renames its temp file over
	// the db, so a kill leaves the old or the new file, and undo finds the
	// backup either way.
	e, err := j.Append(Entry{Action: ActDefragOffline, Path: r.DB, To: r.BackupDir, SHA256: r.BackupSHA256, Result: ResultOK,
		Detail: fmt.Sprintf("%d bytes, %d in use", r.Before.SizeBytes, r.Before.InUseBytes)})
	if err != nil {
		return r, err
	}
	r.JournalSeq = e.Seq
	// The lock was free a moment ago; a member started since is not
	// waited on for long.
	etcdutl.FlockTimeout = 2 * time.Second
	start := time.Now()
	if err := defragData(filepath.Join(db, "../../..")); err != nil { // db is <data dir>/member/snap/db
		if _, jerr := j.Append(Entry{Action: ActDefragOffline, Path: r.DB, Result: ResultFailed, Detail: err.Error()}); jerr != nil {
			err = errors.Join(err, jerr)
		}
		return r, fault.Mark(fmt.Errorf("etcdutl defrag %s: %w", r.DataDir, err), fault.Failed)
	}
	r.TookSeconds = time.Since(start).Seconds()
	after, err := ReadBoltInfo(db)
	if err != nil {
		return r, err
	}
	r.Done, r.After = true, &after
	if r.Before.SizeBytes > 0 {
		r.ShrunkPercent = 100 * float64(r.Before.SizeBytes-after.SizeBytes) / float64(r.Before.SizeBytes)
	}
	return r, nil
}

// defragData is etcdutl defrag --data-dir; its backend panics when it cannot
// take the lock in time, which must not take the journal down with it.
func defragData(dir string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	return etcdutl.DefragData(dir)
}

// undoDefragOffline puts the backup back if etcd has applied nothing since
// (same consistent index): the defragmented file holds the same data, and
// a file etcd wrote to since must not go back in time.
func undoDefragOffline(_ context.Context, l *Layout, e Entry) (string, error) {
	db := l.abs(e.Path)
	backup := filepath.Join(l.abs(e.To), filepath.Base(db))
	sum, err := FileSHA256(backup)
	if err != nil {
		return "", err
	}
	if sum != e.SHA256 {
		return "", fmt.Errorf("backup %s does not match the journal's sha256", backup)
	}
	if cur, err := FileSHA256(db); err == nil && cur == sum {
		return "the backup is in place already", nil
	}
	now, err := ReadBoltInfo(db)
	if err != nil {
		return "", err
	}
	then, err := ReadBoltInfo(backup)
	if err != nil {
		return "", err
	}
	if now.ConsistentIndex != then.ConsistentIndex {
		return "", fault.Mark(fmt.Errorf("etcd applied entries to %s since the defrag (consistent index %d, backup %d): putting the backup back would lose them; left alone", e.Path, now.ConsistentIndex, then.ConsistentIndex), fault.Refused)
	}
	if err := CheckSpace(SpaceNeed{Dir: filepath.Dir(db), Bytes: then.SizeBytes}); err != nil {
		return "", err
	}
	st, err := os.Stat(db)
	if err != nil {
		return "", err
	}
	if _, _, err := copyLike(backup, db, st); err != nil {
		return "", err
	}
	return fmt.Sprintf("bolt file back from %s (%d bytes); the backup is kept", e.To, then.SizeBytes), nil
}
