package snapshot

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// CheckTarget finds a save target that cannot work before anything
// connects: a run that streams gigabytes only to learn that its directory
// is missing wasted the member's time, and a cron job learns it late.
func CheckTarget(target string, compress bool) error {
	dir, _, err := resolveTarget(target, compress)
	if err != nil {
		return err
	}
	return checkWritableDir(dir, "snapshot directory")
}

// CheckMetricsFile finds a --metrics-file that cannot be written before
// the run does its work: the textfile is what tells a person the job ran,
// and one that fails only at the end leaves no sign the run happened.
func CheckMetricsFile(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fault.Mark(fmt.Errorf("--metrics-file %s is a directory", path), fault.Invalid)
	}
	return checkWritableDir(filepath.Dir(path), "--metrics-file directory")
}

// checkWritableDir creates and removes a file in dir: permission bits say
// nothing to root, and nothing about a read-only mount; a real create does.
func checkWritableDir(dir, what string) error {
	fi, err := os.Stat(dir)
	switch {
	case os.IsNotExist(err):
		return fault.Mark(fmt.Errorf("%s %s does not exist", what, dir), fault.Invalid)
	case err != nil:
		return fault.Mark(fmt.Errorf("%s: %w", what, err), fault.Invalid)
	case !fi.IsDir():
		return fault.Mark(fmt.Errorf("%s %s is not a directory", what, dir), fault.Invalid)
	}
	// Not a tempPrefix name: those are another run's to clean up.
	f, err := os.CreateTemp(dir, ".etcdmedic-write-check-*")
	if err != nil {
		return fault.Mark(fmt.Errorf("%s %s is not writable: %w", what, dir, err), fault.Invalid)
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("%s %s: %w", what, dir, err)
	}
	return nil
}
