package breakglass

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/etcdmedic/etcdmedic/internal/atomicfile"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// moved is what a quarantine did, for the journal.
type moved struct {
	dst   string
	link  string // the symlink's target text, when a link was moved
	mode  os.FileMode
	owner atomicfile.Owner
}

func ownerOf(fi os.FileInfo) atomicfile.Owner {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return atomicfile.Owner{UID: int(st.Uid), GID: int(st.Gid)}
	}
	return atomicfile.Owner{UID: os.Getuid(), GID: os.Getgid()}
}

// quarantine copies the manifest at src into the quarantine directory
// durably, with its mode and owner, checks the copy, and only then removes
// src. A symlink is moved as a link: its target's content is what is copied
// (what the kubelet ran, and what apiserver --localhost derives from), the
// link is what is removed, and the journal keeps its target text for undo.
// A copy left by an interrupted run with the same digest is reused; any
// other file of the same name is kept and the new one gets a time suffix.
// When anything fails after the copy was made and src is still there, the
// copy is removed again: a copy that no ok entry names would never be undone.
// journal is called once the destination is known and before anything is
// written: a kill after src is removed must find the move in the journal
// (undo takes a manifest still in place as already restored).
func quarantine(l *Layout, src, sum, wantLink string, journal func(moved) error) (moved, error) {
	var mv moved
	// Right before touching anything: the directories may have changed
	// since the layout was resolved.
	if err := l.checkApart(); err != nil {
		return mv, err
	}
	lst, err := os.Lstat(src)
	if err != nil {
		return mv, err
	}
	read := src
	if lst.Mode()&os.ModeSymlink != 0 {
		if mv.link, err = os.Readlink(src); err != nil {
			return mv, err
		}
		if read, err = resolveIn(l.Root, src); err != nil {
			return mv, err
		}
	}
	if mv.link != wantLink {
		return mv, fmt.Errorf("%s changed while planning (symlink %q, planned %q)", src, mv.link, wantLink)
	}
	data, err := os.ReadFile(read)
	if err != nil {
		return mv, err
	}
	if digest(data) != sum {
		return mv, fmt.Errorf("%s changed while planning", src)
	}
	st, err := os.Stat(read)
	if err != nil {
		return mv, err
	}
	// The journal keeps what undo must recreate: the file's mode and owner,
	// or the link's own owner.
	mv.mode, mv.owner = st.Mode().Perm(), ownerOf(lst)
	if err := os.MkdirAll(l.QuarantineDir, 0o700); err != nil {
		return mv, err
	}
	dst := filepath.Join(l.QuarantineDir, filepath.Base(src))
	if fi, err := os.Lstat(dst); err == nil {
		if fi.Mode().IsRegular() && os.SameFile(fi, st) {
			return mv, fault.Mark(fmt.Errorf("%s and %s are the same file: moving one onto the other would delete it", l.Rel(src), l.Rel(dst)), fault.Invalid)
		}
		if old, err := os.ReadFile(dst); err != nil || !fi.Mode().IsRegular() || !bytes.Equal(old, data) {
			dst = fmt.Sprintf("%s.%s", dst, time.Now().UTC().Format("20060102T150405.000Z"))
		}
	}
	_, existed := os.Lstat(dst)
	created := errors.Is(existed, os.ErrNotExist)
	owner := ownerOf(st)
	if err := journal(moved{dst: dst, link: mv.link, mode: mv.mode, owner: mv.owner}); err != nil {
		return mv, err
	}
	err = atomicfile.WriteWith(dst, atomicfile.Options{Perm: mv.mode, Owner: &owner}, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return mv, err
	}
	mv.dst = dst
	fail := func(err error) (moved, error) {
		if _, serr := os.Lstat(src); serr == nil && created {
			if rerr := os.Remove(dst); rerr == nil {
				_ = atomicfile.SyncDir(filepath.Dir(dst))
				mv.dst = ""
				return mv, fmt.Errorf("%w (its copy %s removed again)", err, l.Rel(dst))
			}
		}
		return mv, err
	}
	back, err := os.ReadFile(dst)
	if err != nil || digest(back) != sum {
		return fail(fmt.Errorf("copy %s does not verify", dst))
	}
	if err := os.Remove(src); err != nil {
		return fail(err)
	}
	if err := atomicfile.SyncDir(filepath.Dir(src)); err != nil {
		// The move has happened; should it not survive a power loss, the
		// original is back in place and undo takes that as done.
		slog.Warn("quarantine: fsync of the static-pod directory", "dir", filepath.Dir(src), "err", err)
	}
	return mv, nil
}

// restore puts a quarantined manifest back byte-identical, with the mode and
// owner it had, checking the digest on both ends; an identical file already
// in place is success (and a copy still in quarantine is then removed). A
// moved symlink comes back as the same link.
func restore(l *Layout, e Entry) (string, error) {
	dir, err := resolveIn(l.Root, filepath.Dir(l.abs(e.Path)))
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, filepath.Base(e.Path))
	src, err := resolveIn(l.Root, l.abs(e.To))
	if err != nil {
		return "", err
	}
	copyFi, copyErr := os.Stat(src)
	if fi, err := os.Lstat(dst); err == nil {
		if copyErr == nil && os.SameFile(fi, copyFi) {
			return "", fault.Mark(fmt.Errorf("%s and %s are the same file: restoring one onto the other would delete it", e.Path, e.To), fault.Invalid)
		}
		if !inPlace(l, e, dst, fi) {
			return "", fmt.Errorf("%s exists with other content; move it away first", e.Path)
		}
		if copyErr != nil {
			return "already in place", nil
		}
		return removeCopy(l, e, src, dst, "already in place")
	}
	if e.LinkTarget != "" {
		if err := os.Symlink(e.LinkTarget, dst); err != nil {
			return "", err
		}
		if e.UID != nil && e.GID != nil {
			if err := os.Lchown(dst, *e.UID, *e.GID); err != nil {
				return "", err
			}
		}
		if err := atomicfile.SyncDir(dir); err != nil {
			return "", err
		}
		detail := "symlink to " + e.LinkTarget + " back"
		if t, err := resolveIn(l.Root, dst); err != nil || fileDigest(t) != e.SHA256 {
			detail += "; its target's content is not what was quarantined (changed or gone since; it was never touched here)"
		}
		if copyErr != nil {
			return detail, nil
		}
		return removeCopy(l, e, src, dst, detail)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	if digest(data) != e.SHA256 {
		return "", fmt.Errorf("%s does not match the journal's sha256", e.To)
	}
	mode, owner := copyFi.Mode().Perm(), ownerOf(copyFi)
	if m, err := strconv.ParseUint(e.Mode, 8, 32); err == nil && e.Mode != "" {
		mode = os.FileMode(m)
	}
	if e.UID != nil && e.GID != nil {
		owner = atomicfile.Owner{UID: *e.UID, GID: *e.GID}
	}
	// NoReplace: a file that appeared in the meantime is not overwritten.
	err = atomicfile.WriteWith(dst, atomicfile.Options{Perm: mode, Owner: &owner, NoReplace: true}, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return "", err
	}
	if err := os.Remove(src); err != nil {
		return "", err
	}
	return "restored", atomicfile.SyncDir(filepath.Dir(src))
}

// inPlace says whether what is at dst is what the entry moved away.
func inPlace(l *Layout, e Entry, dst string, fi os.FileInfo) bool {
	if e.LinkTarget != "" {
		t, err := os.Readlink(dst)
		return err == nil && t == e.LinkTarget
	}
	return fi.Mode().IsRegular() && fileDigest(dst) == e.SHA256
}

// removeCopy removes the quarantined copy once the manifest is back, unless
// it is not the journaled content or is the file a restored link points to.
func removeCopy(l *Layout, e Entry, src, dst, detail string) (string, error) {
	if fileDigest(src) != e.SHA256 {
		return detail + "; " + e.To + " differs from the journal and was left", nil
	}
	if t, err := resolveIn(l.Root, dst); err == nil {
		if a, err1 := os.Stat(t); err1 == nil {
			if b, err2 := os.Stat(src); err2 == nil && os.SameFile(a, b) {
				return detail, nil
			}
		}
	}
	if err := os.Remove(src); err != nil {
		return "", err
	}
	return detail + "; copy " + e.To + " removed", atomicfile.SyncDir(filepath.Dir(src))
}

func fileDigest(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return digest(data)
}
