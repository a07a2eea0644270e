package breakglass

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/client/pkg/v3/fileutil"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// walTail is what the newest WAL segments say: the metadata record (member
// and cluster ID), the newest HardState, the last entry and the newest
// snapshot record at or below that HardState's commit.
type walTail struct {
	meta                []byte
	hs                  *raftpb.HardState
	lastIndex, lastTerm uint64
	haveLast            bool
	snap                *walpb.Snapshot
}

// done: every fact is known, older segments cannot change any.
func (t *walTail) done() bool {
	return t.meta != nil && t.hs != nil && t.haveLast && t.snap != nil
}

// readWAL reads the WAL from its newest segment backwards, only as far as
// it must: etcd starts every segment with a CRC, a metadata and a HardState
// record, so the last segment alone names the member and cluster and holds
// the newest HardState and the last entry; older segments are read only
// while the newest snapshot record (or, after a fresh cut, the last entry)
// is still missing. Each segment goes through etcd's own WAL decoder, CRCs
// checked, in read mode (no lock, nothing written) and streamed: entries
// are looked at and dropped, never held. wal.ValidSnapshotEntries and
// ReadAll would decode every segment and keep every entry since the
// snapshot in memory (hundreds of MB on a busy member).
func (d *DataDirState) readWAL(walDir string) {
	d.checkWALTail(walDir)
	names, err := fileutil.ReadDir(walDir, fileutil.WithExt(".wal"))
	if err == nil && len(names) == 0 {
		err = wal.ErrFileNotFound
	}
	if err != nil {
		d.problem("WAL unreadable: %v", err)
		return
	}
	sort.Strings(names) // <seq>-<index>.wal, hex: name order is seq order
	t := &walTail{}
	for i := len(names) - 1; i >= 0 && !t.done(); i-- {
		if err := t.readSegment(filepath.Join(walDir, names[i]), i == len(names)-1); err != nil {
			d.problem("WAL unreadable: %s: %v", names[i], err)
			return
		}
	}
	if t.meta == nil {
		d.problem("WAL unreadable: no metadata record")
		return
	}
	var md etcdserverpb.Metadata
	if err := proto.Unmarshal(t.meta, &md); err != nil {
		d.problem("WAL metadata: %v", err)
		return
	}
	d.MemberID = cluster.FormatID(md.GetNodeID())
	d.ClusterID = cluster.FormatID(md.GetClusterID())
	if t.hs != nil {
		d.WALCommit, d.WALTerm = t.hs.GetCommit(), t.hs.GetTerm()
	}
	if t.snap == nil {
		d.problem("WAL unreadable: no snapshot record at or below commit %d", d.WALCommit)
		return
	}
	d.WALSnapIndex = t.snap.GetIndex()
	d.WALLastIndex, d.WALLastTerm = t.snap.GetIndex(), t.snap.GetTerm()
	if t.haveLast && t.lastIndex >= d.WALLastIndex {
		d.WALLastIndex, d.WALLastTerm = t.lastIndex, t.lastTerm
	}
}

// readSegment decodes one segment and fills what newer segments left
// unknown. Only the newest segment may end in a torn record (etcd writes
// nowhere else); it reads up to there, as read mode does.
func (t *walTail) readSegment(path string, newest bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := wal.NewDecoder(fileutil.NewFileReader(f))
	var (
		meta      []byte
		hs        *raftpb.HardState
		snaps     []*walpb.Snapshot
		lastEntry []byte
		rec       walpb.Record
	)
	for err = dec.Decode(&rec); err == nil; err = dec.Decode(&rec) {
		switch rec.GetType() {
		case wal.EntryType:
			// The last entry record is the log's last entry: a record
			// overriding uncommitted entries comes after them. Only that
			// one is unmarshalled, at the end.
			lastEntry = rec.Data
		case wal.StateType:
			hs = wal.MustUnmarshalState(rec.Data)
		case wal.MetadataType:
			if meta == nil {
				meta = append([]byte(nil), rec.Data...)
			}
		case wal.SnapshotType:
			s := &walpb.Snapshot{}
			if uerr := proto.Unmarshal(rec.Data, s); uerr != nil {
				return fmt.Errorf("snapshot record: %w", uerr)
			}
			snaps = append(snaps, s)
		case wal.CrcType:
			// A segment opens with the previous one's running CRC; a
			// decoder over this segment alone starts from it, as ReadAll
			// does on a fresh decoder (CRC 0 is not checked).
			if crc := dec.LastCRC(); crc != 0 && rec.Validate(crc) != nil {
				return wal.ErrCRCMismatch
			}
			dec.UpdateCRC(rec.GetCrc())
		default:
			return fmt.Errorf("unexpected record type %d", rec.GetType())
		}
	}
	if !errors.Is(err, io.EOF) && !(newest && errors.Is(err, io.ErrUnexpectedEOF)) {
		return err
	}
	if t.meta == nil {
		t.meta = meta
	}
	if t.hs == nil && hs != nil {
		t.hs = hs
	}
	if !t.haveLast && lastEntry != nil {
		var e raftpb.Entry
		if err := proto.Unmarshal(lastEntry, &e); err != nil {
			return fmt.Errorf("entry: %w", err)
		}
		t.lastIndex, t.lastTerm, t.haveLast = e.GetIndex(), e.GetTerm(), true
	}
	if t.snap == nil && t.hs != nil {
		// As wal.ValidSnapshotEntries: a snapshot record above the
		// newest commit is not one etcd would start from.
		for i := len(snaps) - 1; i >= 0; i-- {
			if snaps[i].GetIndex() <= t.hs.GetCommit() {
				t.snap = snaps[i]
				break
			}
		}
	}
	return nil
}

// checkWALTail reports a last segment shorter than etcd preallocates it: a
// read-mode replay stops quietly at a cut-off tail, so without this a
// truncated WAL would only look older than it is.
func (d *DataDirState) checkWALTail(walDir string) {
	entries, err := os.ReadDir(walDir)
	if err != nil {
		return
	}
	var last os.DirEntry
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".wal") {
			last = e
		}
	}
	if last == nil {
		return
	}
	if info, err := last.Info(); err == nil && info.Size() < wal.SegmentSizeBytes {
		d.problem("WAL truncated: its last segment %s is %d bytes, etcd preallocates %d", last.Name(), info.Size(), wal.SegmentSizeBytes)
	}
}
