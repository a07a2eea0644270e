package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
)

// tempFile is an in-progress file, locked for as long as this process has it
// open: a leftover whose lock can be taken belongs to a process that died.
type tempFile struct {
	*os.File
}

func createTemp(dir, suffix string) (*tempFile, error) {
	f, err := os.CreateTemp(dir, tempPrefix+"*"+suffix+tempSuffix)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	if err := lockFile(f, false); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return &tempFile{f}, nil
}

// discard closes and removes the file (after a failure).
func (t *tempFile) discard() {
	t.File.Close()
	os.Remove(t.Name())
}

// CleanupTemps removes this tool's temporary files in dir left behind by a run
// that was killed. Files still locked by a running save are left alone.
func CleanupTemps(dir string) (removed []string, err error) {
	matches, err := filepath.Glob(filepath.Join(dir, tempPrefix+"*"+tempSuffix))
	if err != nil {
		return nil, err
	}
	removed = []string{}
	for _, p := range matches {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if lockFile(f, true) == nil && os.Remove(p) == nil {
			removed = append(removed, p)
		}
		f.Close()
	}
	return removed, nil
}
