package breakglass

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.etcd.io/etcd/server/v3/storage/datadir"

	"github.com/etcdmedic/etcdmedic/internal/atomicfile"
	"github.com/etcdmedic/etcdmedic/internal/etcdbin"
	"github.com/etcdmedic/etcdmedic/internal/etcdschema"
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
	pageSize        int
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
	bi.pageSize = db.Info().PageSize
	s := db.Stats()
	err = db.View(func(tx *bolt.Tx) error {
		// The file may be longer than its last page (bolt grows it ahead);
		// in use is up to the last page, less the free ones, as etcd counts.
		bi.InUseBytes = tx.Size() - int64(s.FreePageN+s.PendingPageN)*int64(db.Info().PageSize)
		b := tx.Bucket(etcdschema.MetaBucket)
		if b == nil {
			return errors.New("no meta bucket: not an etcd bolt file")
		}
		if v := b.Get(etcdschema.ConsistentIndexKey); len(v) == 8 {
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
	// BackupMode is how the file as it was is kept: "hardlink" when the
	// state dir is on the db's filesystem (etcd's defrag renames a new
	// file over the db, so a hard link keeps the old inode whole, at no
	// cost), else "copy" (a full copy with its sha256).
	BackupMode string `json:"backupMode"`
	// NeedBytes: defrag's temp file (the bytes in use) plus, for a copy,
	// the whole file, checked against the free space before anything.
	NeedBytes int64     `json:"needBytes"`
	Done      bool      `json:"done"`
	After     *BoltInfo `json:"after,omitempty"`
	// ShrunkPercent is how much smaller the file is after.
	ShrunkPercent float64 `json:"shrunkPercent,omitempty"`
	BackupSHA256  string  `json:"backupSha256,omitempty"`
	TookSeconds   float64 `json:"tookSeconds,omitempty"`
	JournalSeq    int     `json:"journalSeq,omitempty"`
	// Etcdutl is the etcdutl binary that defragments (absent: the library
	// linked into the full build).
	Etcdutl *etcdbin.Tool `json:"etcdutl,omitempty"`
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
		BackupDir: l.Rel(newBackupDir(l.StateDir, "defrag-offline")), BackupMode: "copy", NeedBytes: bi.SizeBytes + bi.InUseBytes}
	if sameFilesystem(existingParent(l.StateDir), filepath.Dir(db)) {
		r.BackupMode, r.NeedBytes = "hardlink", bi.InUseBytes
	}
	if bi.SizeBytes > 0 {
		r.FragmentedPercent = 100 * float64(bi.SizeBytes-bi.InUseBytes) / float64(bi.SizeBytes)
	}
	needs := []SpaceNeed{{Dir: filepath.Dir(db), Bytes: bi.InUseBytes}}
	if r.BackupMode == "copy" {
		needs = append(needs, SpaceNeed{Dir: l.StateDir, Bytes: bi.SizeBytes})
	}
	return r, CheckSpace(needs...)
}

func sameFilesystem(a, b string) bool {
	sa, erra := os.Stat(a)
	sb, errb := os.Stat(b)
	if erra != nil || errb != nil {
		return false
	}
	da, oka := sa.Sys().(*syscall.Stat_t)
	db, okb := sb.Sys().(*syscall.Stat_t)
	return oka && okb && da.Dev == db.Dev
}

// fileIdentity names an inode: "dev:ino:size". etcd's defrag commits one
// empty transaction to the old file before it copies (a meta page and the
// mtime change, the size does not), so that is what undo checks a hard-link
// backup against; a copy has its sha256.
func fileIdentity(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return "", errors.New("no inode")
	}
	return fmt.Sprintf("%d:%d:%d", s.Dev, s.Ino, st.Size()), nil
}

// metaPagesFile keeps, beside a hard-link backup, the bolt file's two meta
// pages as they were: etcd's defrag commits one empty transaction to the
// old file first, which rewrites one of them (txid and checksum, nothing
// else), so undo patches them back for a byte-identical file.
const metaPagesFile = "db.meta-pages"

// keepOriginalDB keeps the bolt file as it is into dir: a hard link (plus
// its meta pages) when the plan found one filesystem, falling back to a
// copy when linking fails, else a copy with its sha256. It returns the mode
// used, the hard link's identity ("" for a copy) and the sha256 of the copy
// or of the meta pages.
func keepOriginalDB(db, dir, mode string, pageSize int) (string, string, string, error) {
	if mode == "hardlink" && pageSize > 0 {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", "", "", err
		}
		meta := make([]byte, 2*pageSize)
		f, err := os.Open(db)
		if err != nil {
			return "", "", "", err
		}
		_, err = io.ReadFull(f, meta)
		f.Close()
		if err != nil {
			return "", "", "", fmt.Errorf("meta pages of %s: %w", db, err)
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, metaPagesFile), meta, 0o600); err != nil {
			return "", "", "", err
		}
		dst := filepath.Join(dir, filepath.Base(db))
		if err := os.Link(db, dst); err == nil {
			id, err := fileIdentity(dst)
			if err == nil {
				err = atomicfile.SyncDir(dir)
			}
			return "hardlink", id, digest(meta), err
		}
		st, err := os.Stat(db)
		if err != nil {
			return "", "", "", err
		}
		if err := CheckSpace(SpaceNeed{Dir: dir, Bytes: st.Size()}); err != nil {
			return "", "", "", err
		}
	}
	backup, err := BackupFiles(db, dir)
	if err != nil {
		return "", "", "", err
	}
	return "copy", "", backup.Files[filepath.Base(db)], nil
}

// restoreHardlinkBackup writes the hard-link backup over db (atomically,
// with db's mode and owner), its first pages replaced by the meta pages
// kept before the defrag: the file as it was, byte for byte.
func restoreHardlinkBackup(backup, metaPath, wantMeta, db string) error {
	meta, err := os.ReadFile(metaPath)
	if err != nil {
		return err
	}
	if digest(meta) != wantMeta {
		return fmt.Errorf("%s does not match the journal's sha256", metaPath)
	}
	in, err := os.Open(backup)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := os.Stat(db)
	if err != nil {
		return err
	}
	bst, err := in.Stat()
	if err != nil {
		return err
	}
	o := atomicfile.Options{Perm: st.Mode().Perm()}
	if s, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		o.Owner = &atomicfile.Owner{UID: int(s.Uid), GID: int(s.Gid)}
	}
	n := int64(len(meta))
	return atomicfile.WriteWith(db, o, func(w io.Writer) error {
		if _, err := w.Write(meta); err != nil {
			return err
		}
		_, err := io.Copy(w, io.NewSectionReader(in, n, bst.Size()-n))
		return err
	})
}

// DefragOffline backs the bolt file up (checksummed, into the state dir),
// journals it, then runs etcdutl's defrag on the data dir: the library in
// the full build, the etcdutl beside this binary or on PATH in the release
// build.
func DefragOffline(l *Layout, j *Journal, dataDir string) (*DefragOfflineReport, error) {
	return DefragOfflineWith(context.Background(), l, j, dataDir, DefragOfflineOptions{})
}

// DefragOfflineWith is DefragOffline with the etcdutl and deadline of o.
func DefragOfflineWith(ctx context.Context, l *Layout, j *Journal, dataDir string, o DefragOfflineOptions) (*DefragOfflineReport, error) {
	bin, err := FindDefragTool(o.EtcdutlBinary)
	if err != nil {
		return nil, err
	}
	r, err := PlanDefragOffline(l, dataDir)
	if err != nil {
		return nil, err
	}
	r.Etcdutl = etcdbin.DescribeRun(ctx, "etcdutl", bin)
	db := l.abs(r.DB)
	mode, id, sum, err := keepOriginalDB(db, l.abs(r.BackupDir), r.BackupMode, r.Before.pageSize)
	if err != nil {
		return nil, fmt.Errorf("back up %s: %w", r.DB, err)
	}
	r.BackupMode = mode
	e := Entry{Action: ActDefragOffline, Path: r.DB, To: r.BackupDir, Result: ResultOK, Inode: id, SHA256: sum,
		Detail: fmt.Sprintf("%d bytes, %d in use; backup: %s", r.Before.SizeBytes, r.Before.InUseBytes, mode)}
	if mode == "copy" {
		r.BackupSHA256 = sum
	}
	// Journaled before the defrag: etcd's defrag renames its temp file over
	// the db, so a kill leaves the old or the new file, and undo finds the
	// backup either way.
	e, err = j.Append(e)
	if err != nil {
		return r, err
	}
	r.JournalSeq = e.Seq
	start := time.Now()
	if err := runDefrag(ctx, r.Etcdutl, filepath.Join(db, "../../.."), o.Timeout); err != nil { // db is <data dir>/member/snap/db
		if mode == "hardlink" {
			// Not renamed over: the link is the live file itself, no
			// backup; etcd would write through it once started.
			if cur, ierr := fileIdentity(db); ierr == nil && cur == id {
				_ = os.Remove(filepath.Join(l.abs(r.BackupDir), filepath.Base(db)))
				_ = os.Remove(filepath.Join(l.abs(r.BackupDir), metaPagesFile))
				if _, jerr := j.Append(Entry{Action: ActUndo, Ref: e.Seq, Result: ResultOK, Path: r.DB, Detail: "the defrag did not happen: nothing to put back"}); jerr != nil {
					err = errors.Join(err, jerr)
				}
			}
		}
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

// undoDefragOffline puts the backup back if etcd has applied nothing since
// (same consistent index): the defragmented file holds the same data, and
// a file etcd wrote to since must not go back in time.
func undoDefragOffline(_ context.Context, l *Layout, e Entry) (string, error) {
	db := l.abs(e.Path)
	backup := filepath.Join(l.abs(e.To), filepath.Base(db))
	if e.Inode != "" {
		// A hard link: the same inode, untouched since (size), and the
		// db is not that inode again.
		id, err := fileIdentity(backup)
		if err != nil {
			return "", err
		}
		if id != e.Inode {
			return "", fmt.Errorf("backup %s is not the file the journal kept (%s, journaled %s)", backup, id, e.Inode)
		}
		if cur, err := fileIdentity(db); err == nil && cur == id {
			return "the backup is in place already", nil
		}
	} else {
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
	if e.Inode != "" {
		if err := restoreHardlinkBackup(backup, filepath.Join(l.abs(e.To), metaPagesFile), e.SHA256, db); err != nil {
			return "", err
		}
	} else if _, _, err := copyLike(backup, db, st); err != nil {
		return "", err
	}
	return fmt.Sprintf("bolt file back from %s (%d bytes); the backup is kept", e.To, then.SizeBytes), nil
}
