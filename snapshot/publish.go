package snapshot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/etcdmedic/etcdmedic/internal/atomicfile"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

// maxNameTries bounds the search for a free generated name: one per
// millisecond after the save's own time.
const maxNameTries = 1000

// publish gives a verified snapshot its final name, never replacing a file:
// concurrent saves into one directory (two cron jobs, two nodes on a shared
// volume) each end up under a name of their own. A generated name that is
// taken moves on by a millisecond, so names stay unique and still sort by
// time; a name the user chose fails with ErrTargetExists instead.
func publish(stored *tempFile, meta *Metadata, fixed, dir string, name func(at time.Time) string, at time.Time) (string, error) {
	tries := maxNameTries
	if fixed != "" {
		tries = 1
	}
	var last string
	for i := 0; i < tries; i++ {
		path := fixed
		if path == "" {
			t := at.Add(time.Duration(i) * time.Millisecond)
			path, meta.Created = filepath.Join(dir, name(t)), t
		}
		last = path
		meta.File = filepath.Base(path)
		err := reserveMetadata(path, meta)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("snapshot: %w", err)
		}
		err = linkNoReplace(stored.Name(), path)
		if err == nil {
			return path, nil
		}
		os.Remove(MetaPath(path))
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("snapshot: %w", err)
		}
	}
	return "", fmt.Errorf("%w: %s", ErrTargetExists, last)
}

// reserveMetadata claims a final name by creating its metadata file
// exclusively (a hard link is atomic, a check-then-write is not): the metadata
// goes first, so a file under a final name always has it. A name whose
// snapshot exists without metadata (copied in by hand) is taken too.
func reserveMetadata(path string, m *Metadata) error {
	if _, err := os.Lstat(path); err == nil {
		return fs.ErrExist
	}
	b, err := output.MarshalIndent(m)
	if err != nil {
		return err
	}
	// Written whole under a temporary name, then linked without replacing:
	// the claim is as atomic as O_EXCL, and a crash mid-write never leaves
	// a half-written metadata file under a final name.
	return atomicfile.WriteWith(MetaPath(path), atomicfile.Options{Perm: 0o600, NoReplace: true}, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// linkNoReplace puts the temporary file under its final name, failing with
// fs.ErrExist rather than replacing a file there (rename would replace it).
// The file stays open and locked meanwhile, so a concurrent cleanup never
// mistakes it for a leftover.
func linkNoReplace(tmp, final string) error {
	err := os.Link(tmp, final)
	if err == nil {
		// Should this fail, the next run's cleanup removes the temporary name.
		_ = os.Remove(tmp)
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return err
	}
	// A filesystem without hard links (FAT, some network mounts): the
	// metadata reservation already keeps every other save off this name.
	if _, serr := os.Lstat(final); serr == nil {
		return fs.ErrExist
	}
	return os.Rename(tmp, final)
}
