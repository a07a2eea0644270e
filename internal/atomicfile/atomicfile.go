// Package atomicfile writes files so that a reader (or a crash) sees either the
// old content or the new, never a torn file: temp file in the same directory,
// fsync, rename, fsync of the directory.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile atomically replaces path with data, with the given permissions.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write atomically replaces path with what fill writes. If fill fails, path is
// untouched and the temporary file is removed.
func Write(path string, perm os.FileMode, fill func(io.Writer) error) error {
	return WriteWith(path, Options{Perm: perm}, fill)
}

// Owner is a file's numeric owner and group.
type Owner struct{ UID, GID int }

// Options shape the file WriteWith creates.
type Options struct {
	Perm os.FileMode
	// Owner, when set, is given to the file before it gets its name, so
	// a restored file is never visible with the writer's owner (root).
	Owner *Owner
	// NoReplace fails (fs.ErrExist) instead of replacing an existing path:
	// the new name is a hard link to the finished temp file, which the
	// kernel refuses to create over anything, even a file created in the
	// meantime by another process.
	NoReplace bool
}

// WriteWith is Write with an owner and a choice not to replace.
func WriteWith(path string, o Options, fill func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if o.Owner != nil {
		// Before the chmod: chown clears set-id bits.
		if err = tmp.Chown(o.Owner.UID, o.Owner.GID); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err = tmp.Chmod(o.Perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = fill(tmp); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if o.NoReplace {
		if err = os.Link(tmp.Name(), path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("write %s: exists, not replaced: %w", path, fs.ErrExist)
			}
			return fmt.Errorf("write %s: %w", path, err)
		}
		os.Remove(tmp.Name())
	} else if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so a rename inside it survives a power loss.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
