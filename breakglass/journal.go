package breakglass

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"github.com/etcdmedic/etcdmedic/internal/atomicfile"
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
// counts and flags with numeric values only.
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
	// Ramp.
	MaxRequestsInflight         int `json:"maxRequestsInflight,omitempty"`
	MaxMutatingRequestsInflight int `json:"maxMutatingRequestsInflight,omitempty"`
	// Purge.
	Archive       string `json:"archive,omitempty"`
	ArchiveSHA256 string `json:"archiveSha256,omitempty"`
	Revision      int64  `json:"revision,omitempty"`
	Deleted       int    `json:"deleted,omitempty"`
	Changed       int    `json:"changed,omitempty"`
	// Undo.
	Ref    int    `json:"ref,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Journal appends entries to a JSON-lines file, one fsync per entry, so
// what was done survives a crash right after doing it.
type Journal struct {
	path string
	Now  func() time.Time
}

// OpenJournal prepares the journal file (created on first append).
func OpenJournal(path string) *Journal { return &Journal{path: path, Now: time.Now} }

// Path is where the journal lives.
func (j *Journal) Path() string { return j.path }

// Append stamps e (seq, time, user, host) and writes it durably.
func (j *Journal) Append(e Entry) (Entry, error) {
	prev, err := j.Read()
	if err != nil {
		return e, err
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
	dir := filepath.Dir(j.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return e, fmt.Errorf("journal: %w", err)
	}
	_, statErr := os.Stat(j.path)
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return e, fmt.Errorf("journal: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return e, fmt.Errorf("journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return e, fmt.Errorf("journal: fsync: %w", err)
	}
	if err := f.Close(); err != nil {
		return e, fmt.Errorf("journal: %w", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// A new file's directory entry must be durable too.
		if err := atomicfile.SyncDir(dir); err != nil {
			return e, err
		}
	}
	return e, nil
}

// Read returns every entry, oldest first; a missing journal is empty. A torn
// last line (crash mid-append) is ignored, anything else malformed is an error.
func (j *Journal) Read() ([]Entry, error) {
	f, err := os.Open(j.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var bad error
	for sc.Scan() {
		if bad != nil {
			return nil, bad
		}
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			bad = fmt.Errorf("journal %s: entry %d: %w", j.path, len(out)+1, err)
			continue
		}
		out = append(out, e)
	}
	return out, sc.Err()
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
