package snapshot

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/etcdmedic/etcdmedic/internal/atomicfile"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// syncPublished makes a file:// destination's published objects durable
// before the save reports them: gocloud's fileblob renames each finished
// file into place without an fsync, so a power loss right after a
// "saved" could leave an empty snapshot under its final name. Object
// stores acknowledge only what they stored; they need nothing here.
func (r *Remote) syncPublished(keys ...string) error {
	if r.scheme != "file" {
		return nil
	}
	dirs := map[string]bool{}
	for _, k := range keys {
		p := filepath.Join(r.dir, filepath.FromSlash(r.Key(k)))
		// The .attrs sidecar holds the object's metadata (its sha256).
		for _, f := range []string{p, p + ".attrs"} {
			if err := syncFile(f); err != nil && !(f != p && os.IsNotExist(err)) {
				return fault.Mark(fmt.Errorf("fsync %s: %w", r.URLOf(k), err), fault.Failed)
			}
		}
		dirs[filepath.Dir(p)] = true
	}
	for d := range dirs {
		if err := atomicfile.SyncDir(d); err != nil {
			return fault.Mark(err, fault.Failed)
		}
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
