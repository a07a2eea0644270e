package breakglass

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/etcdmedic/etcdmedic/internal/atomicfile"
)

// ActEditManifest is a static-pod manifest written, replaced or removed in
// place (force-new-cluster, probes). To is what was there before, kept
// content-addressed in the state dir ("" when nothing was); SHA256 is what
// was written ("" when the file was removed).
const ActEditManifest = "edit-manifest"

func init() { undoers[ActEditManifest] = revertEditUndo }

// ManifestEdit is one journaled manifest change.
type ManifestEdit struct {
	Path   string `json:"path"` // as on the node
	Backup string `json:"backup,omitempty"`
	From   string `json:"fromSha256,omitempty"`
	To     string `json:"toSha256,omitempty"`
	Seq    int    `json:"journalSeq"`
	Why    string `json:"why"`
}

// EditManifest makes path hold data (nil: removes it). What is there now is
// saved under the state dir first and the edit journaled before the atomic
// rename (or unlink), so a kill at any point leaves the old file or the
// journaled new one, and undo finds the old one either way. want is the
// sha256 path must have now ("" for none); anything else is refused.
func EditManifest(l *Layout, j *Journal, path, want string, data []byte, mode os.FileMode, why string) (ManifestEdit, error) {
	ed := ManifestEdit{Path: l.Rel(path), From: want, Why: why}
	if data != nil {
		ed.To = digest(data)
	}
	cur, st, err := readIfExists(path)
	if err != nil {
		return ed, err
	}
	if sumOrNone(cur) != want {
		return ed, fmt.Errorf("%s changed since it was read; run again", path)
	}
	if st != nil {
		mode = st.Mode().Perm()
		backup, err := keepOriginal(l, path, cur)
		if err != nil {
			return ed, fmt.Errorf("keep the original of %s: %w", path, err)
		}
		ed.Backup = l.Rel(backup)
	}
	e, err := j.Append(Entry{Action: ActEditManifest, Path: ed.Path, To: ed.Backup, SHA256: ed.To,
		Mode: strconv.FormatUint(uint64(mode), 8), Result: ResultOK, Detail: why})
	if err != nil {
		return ed, err
	}
	ed.Seq = e.Seq
	if data == nil {
		if err := os.Remove(path); err != nil {
			return ed, err
		}
		return ed, atomicfile.SyncDir(filepath.Dir(path))
	}
	if st == nil {
		st = fakeInfo(mode)
	}
	if err := writeLike(path, data, st); err != nil {
		return ed, fmt.Errorf("write %s: %w", path, err)
	}
	return ed, nil
}

func readIfExists(path string) ([]byte, os.FileInfo, error) {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	data, err := os.ReadFile(path)
	return data, st, err
}

func sumOrNone(data []byte) string {
	if data == nil {
		return ""
	}
	return digest(data)
}

// keepOriginal saves data as <state>/manifests/<name>.<sha256> and checks the
// copy; an identical copy already there is reused.
func keepOriginal(l *Layout, path string, data []byte) (string, error) {
	dir := filepath.Join(l.StateDir, "manifests")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	sum := digest(data)
	p := filepath.Join(dir, filepath.Base(path)+"."+sum)
	if old, err := os.ReadFile(p); err == nil && digest(old) == sum {
		return p, nil
	}
	if err := atomicfile.WriteFile(p, data, 0o600); err != nil {
		return "", err
	}
	back, err := os.ReadFile(p)
	if err != nil || digest(back) != sum {
		return "", fmt.Errorf("copy %s does not verify", p)
	}
	return p, nil
}

// writeLike writes data atomically with st's mode and, as root, its owner.
func writeLike(path string, data []byte, st os.FileInfo) error {
	o := atomicfile.Options{Perm: st.Mode().Perm()}
	// Only root can give a file away; a fixture's files are the caller's own.
	if s, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		o.Owner = &atomicfile.Owner{UID: int(s.Uid), GID: int(s.Gid)}
	}
	return atomicfile.WriteWith(path, o, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

type modeInfo struct {
	os.FileInfo
	mode os.FileMode
}

func (m modeInfo) Mode() os.FileMode { return m.mode }
func (m modeInfo) Sys() any          { return nil }

func fakeInfo(mode os.FileMode) os.FileInfo { return modeInfo{mode: mode} }

// before is the content an edit replaced (nil: there was none), checked
// against the digest in its name.
func before(l *Layout, e Entry) ([]byte, string, error) {
	if e.To == "" {
		return nil, "", nil
	}
	p := l.abs(e.To)
	sum := p[strings.LastIndex(p, ".")+1:]
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, "", err
	}
	if digest(data) != sum {
		return nil, "", fmt.Errorf("%s does not match its sha256", e.To)
	}
	return data, sum, nil
}

// revertChain undoes consecutive edits of one file (newest first) in one
// step: if the file is what the newest wrote, it gets what the oldest
// replaced, byte-identical (or goes, if there was none). Already so: nothing
// to do. Anything else is a conflict left alone.
func revertChain(l *Layout, chain []Entry) (string, error) {
	newest, oldest := chain[0], chain[len(chain)-1]
	path := l.abs(newest.Path)
	data, sum, err := before(l, oldest)
	if err != nil {
		return "", err
	}
	cur, st, err := readIfExists(path)
	if err != nil {
		return "", err
	}
	switch sumOrNone(cur) {
	case sum:
		return "already as before", nil
	case newest.SHA256:
	default:
		return "", fmt.Errorf("%s changed since it was edited (now sha256 %.12s); left alone, the original is %s", newest.Path, sumOrNone(cur), firstNonEmpty(oldest.To, "none"))
	}
	if data == nil {
		if err := os.Remove(path); err != nil {
			return "", err
		}
		return "removed", atomicfile.SyncDir(filepath.Dir(path))
	}
	if st == nil {
		mode, _ := strconv.ParseUint(firstNonEmpty(oldest.Mode, "600"), 8, 32)
		st = fakeInfo(os.FileMode(mode))
	}
	if err := writeLike(path, data, st); err != nil {
		return "", err
	}
	return "original back (sha256 " + sum[:12] + ")", nil
}

// RevertAndJournal reverts a chain of edits and journals each as undone, so
// a later undo does not put them back.
func RevertAndJournal(l *Layout, j *Journal, chain []Entry) (string, error) {
	detail, err := revertChain(l, chain)
	if err != nil {
		return "", err
	}
	for _, e := range chain {
		if _, err := j.Append(Entry{Action: ActUndo, Ref: e.Seq, Result: ResultOK, Path: e.Path, Detail: detail}); err != nil {
			return detail, err
		}
	}
	return detail, nil
}

func revertEditUndo(_ context.Context, l *Layout, e Entry) (string, error) {
	return revertChain(l, []Entry{e})
}

// openEdits are the edits of path not undone yet whose reason starts with
// prefix, newest first, up to the first that is not.
func openEdits(j *Journal, path, prefix string) ([]Entry, error) {
	entries, err := j.Read()
	if err != nil {
		return nil, err
	}
	undone := Undone(entries)
	var out []Entry
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if e.Action != ActEditManifest || e.Path != path || undone[e.Seq] {
			continue
		}
		if !strings.HasPrefix(e.Detail, prefix) {
			break
		}
		out = append(out, e)
	}
	return out, nil
}
