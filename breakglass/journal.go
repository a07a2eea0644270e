package breakglass

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"github.com/etcdmedic/etcdmedic/internal/atomicfile"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

// Journal actions.
const (
	ActQuarantine  = "quarantine"      // a manifest moved out of the static-pod directory
	ActWriteBG     = "write-apiserver" // the break-glass apiserver manifest written
	ActRamp        = "ramp"            // its inflight limits changed
	ActPurge       = "purge-pods"      // pods deleted from etcd, archived first
	ActUndo        = "undo"            // an earlier entry reverted (Ref)
	ResultOK       = "ok"
	ResultFailed   = "failed"
	ResultNoChange = "unchanged"
)

// Entry is one line of the journal. It never holds secrets: paths, digests,
// counts, flags with numeric values, and member names and peer URLs only.
type Entry struct {
	Seq    int       `json:"seq"`
	Time   time.Time `json:"time"`
	User   string    `json:"user"`
	Host   string    `json:"host"`
	Action string    `json:"action"`
	Result string    `json:"result"`
	// Manifest moves and writes.
	Path   string `json:"path,omitempty"` // as on the node (without --root)
	To     string `json:"to,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// LinkTarget: the manifest was a symlink with this target text; the
	// link itself was moved and undo puts it back (SHA256 is its target's).
	LinkTarget string `json:"linkTarget,omitempty"`
	// What undo gives the file (or link) back: its mode (octal) and owner.
	Mode string `json:"mode,omitempty"`
	UID  *int   `json:"uid,omitempty"`
	GID  *int   `json:"gid,omitempty"`
	// Ramp.
	MaxRequestsInflight         int `json:"maxRequestsInflight,omitempty"`
	MaxMutatingRequestsInflight int `json:"maxMutatingRequestsInflight,omitempty"`
	// Purge.
	Archive string `json:"archive,omitempty"` // as on the node when under the root
	// ArchivePath is the archive's absolute, resolved path on the machine
	// that ran the purge: a relative --archive or one outside the root
	// has no node path.
	ArchivePath   string `json:"archivePath,omitempty"`
	ArchiveSHA256 string `json:"archiveSha256,omitempty"`
	Revision      int64  `json:"revision,omitempty"`
	Deleted       int    `json:"deleted,omitempty"`
	Changed       int    `json:"changed,omitempty"`
	// Defrag-offline: the backup is a hard link to the old file, this
	// inode ("dev:ino:size"), instead of a copy with a SHA256.
	Inode string `json:"inode,omitempty"`
	// Force-new-cluster: the members it left out (names and peer URLs).
	Members []LostMember `json:"members,omitempty"`
	// Undo.
	Ref    int    `json:"ref,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Journal appends entries to a JSON-lines file, one fsync per entry, so
// what was done survives a crash right after doing it.
type Journal struct {
	path string
	Now  func() time.Time
	// Warn hears of a torn last line found (and cut off) by Append; nil
	// logs it.
	Warn func(msg string)
}

// OpenJournal prepares the journal file (created on first append).
func OpenJournal(path string) *Journal { return &Journal{path: path, Now: time.Now} }

// Path is where the journal lives.
func (j *Journal) Path() string { return j.path }

// Append stamps e (seq, time, user, host) and writes it durably. Appends
// are serialised by an exclusive lock on the file, and each starts on a
// line boundary: a torn last line (a crash mid-append, a full disk) is
// copied aside and cut off first, because an entry glued onto it would
// make that line, and from then on the whole journal, unreadable.
func (j *Journal) Append(e Entry) (Entry, error) {
	dir := filepath.Dir(j.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return e, fmt.Errorf("journal: %w", err)
	}
	_, statErr := os.Stat(j.path)
	f, err := os.OpenFile(j.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return e, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return e, fmt.Errorf("journal: lock: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return e, fmt.Errorf("journal: %w", err)
	}
	prev, torn, err := parseJournal(j.path, data)
	if err != nil {
		return e, err
	}
	end := int64(len(data))
	if len(torn) > 0 {
		if err := j.cutTorn(f, data, torn); err != nil {
			return e, err
		}
		end -= int64(len(torn))
	}
	e.Seq = 1
	if len(prev) > 0 {
		e.Seq = prev[len(prev)-1].Seq + 1
	}
	e.Time = j.Now().UTC().Truncate(time.Millisecond)
	e.User = currentUser()
	e.Host, _ = os.Hostname()
	line, err := output.Marshal(e) // commands in the journal keep their && and >
	if err != nil {
		return e, err
	}
	// One write at the end of the whole lines; if it fails part-way the
	// partial line is taken back, and if that fails too the next append
	// cuts it off.
	if _, err := f.WriteAt(append(line, '\n'), end); err != nil {
		_ = f.Truncate(end)
		return e, fmt.Errorf("journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		return e, fmt.Errorf("journal: fsync: %w", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// A new file's directory entry must be durable too.
		if err := atomicfile.SyncDir(dir); err != nil {
			return e, err
		}
	}
	return e, nil
}

// cutTorn keeps the torn bytes in <journal>.torn-<time> (they may be all
// that is left of what a crashed run did) and truncates the journal to its
// last whole line.
func (j *Journal) cutTorn(f *os.File, data, torn []byte) error {
	aside := fmt.Sprintf("%s.torn-%s", j.path, j.Now().UTC().Format("20060102T150405.000Z"))
	for i := 1; ; i++ {
		err := atomicfile.WriteWith(aside, atomicfile.Options{Perm: 0o600, NoReplace: true}, func(w io.Writer) error {
			_, err := w.Write(torn)
			return err
		})
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("journal: keeping its torn last line: %w", err)
		}
		aside = fmt.Sprintf("%s.torn-%s-%d", j.path, j.Now().UTC().Format("20060102T150405.000Z"), i)
	}
	if err := f.Truncate(int64(len(data) - len(torn))); err != nil {
		return fmt.Errorf("journal: cutting its torn last line: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("journal: fsync: %w", err)
	}
	msg := fmt.Sprintf("journal %s: its last line was torn (%d bytes, a crash mid-append); cut off, kept in %s", j.path, len(torn), aside)
	if j.Warn != nil {
		j.Warn(msg)
	} else {
		slog.Warn(msg)
	}
	return nil
}

// Read returns every entry, oldest first; a missing journal is empty. A torn
// last line (crash mid-append) is ignored (Inspect reports it); anything else
// malformed is an error.
func (j *Journal) Read() ([]Entry, error) {
	entries, _, err := j.Inspect()
	return entries, err
}

// Inspect is Read plus the torn last line, if any: the bytes after the last
// newline, which the next Append cuts off.
func (j *Journal) Inspect() ([]Entry, []byte, error) {
	data, err := os.ReadFile(j.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	return parseJournal(j.path, data)
}

// parseJournal splits the journal into whole lines and a torn tail: bytes
// after the last newline are an append that did not finish (every append
// ends with one). A whole line that does not parse is an error (the file
// was edited or damaged, and undo must not guess past it), except the one
// shape a crash leaves with an older etcdmedic, which appended straight
// after a torn line: a fragment, then a whole entry. That entry is kept and
// the fragment, which was never a complete entry, dropped with a warning.
func parseJournal(path string, data []byte) ([]Entry, []byte, error) {
	var torn []byte
	if i := bytes.LastIndexByte(data, '\n'); i+1 < len(data) {
		data, torn = data[:i+1], data[i+1:]
	}
	var out []Entry
	for n, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(data) == 0 {
			break
		}
		var e Entry
		err := json.Unmarshal(line, &e)
		if err != nil {
			if glued, ok := afterTornFragment(line); ok {
				slog.Warn("journal: an entry was appended onto a torn line; the fragment is ignored", "journal", path, "line", n+1, "fragmentBytes", len(line)-len(glued))
				e = Entry{}
				err = json.Unmarshal(glued, &e)
			}
		}
		if err != nil {
			return nil, nil, fault.Mark(fmt.Errorf("journal %s: line %d is not an entry: %w", path, n+1, err), fault.Invalid)
		}
		out = append(out, e)
	}
	return out, torn, nil
}

// afterTornFragment finds a whole entry at the end of a line that starts
// with a fragment: every entry is written starting with {"seq":.
func afterTornFragment(line []byte) ([]byte, bool) {
	i := bytes.LastIndex(line, []byte(`{"seq":`))
	if i <= 0 || json.Valid(line[:i]) || !json.Valid(line[i:]) {
		return nil, false
	}
	return line[i:], true
}

// Undone returns the seqs that an undo entry has reverted.
func Undone(entries []Entry) map[int]bool {
	m := map[int]bool{}
	for _, e := range entries {
		if e.Action == ActUndo && e.Result == ResultOK {
			m[e.Ref] = true
		}
	}
	return m
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return fmt.Sprint(os.Getuid())
}
