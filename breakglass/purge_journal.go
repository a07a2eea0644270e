package breakglass

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// ArchivePath names a new purge archive in the state directory.
func (l *Layout) ArchivePath(now time.Time) string {
	return filepath.Join(l.StateDir, "purge-"+now.UTC().Format("20060102T150405.000Z")+".archive")
}

// PurgeJournaled runs Purge and journals it: a "started" entry as soon as the
// archive is durable (before any delete), then the outcome.
func PurgeJournaled(ctx context.Context, c *cluster.Cluster, l *Layout, j *Journal, o PurgeOptions) (*PurgeReport, error) {
	k, closeFn, err := connectVoters(ctx, c)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	return purgeJournaled(ctx, k, l, j, o)
}

func purgeJournaled(ctx context.Context, k kvConn, l *Layout, j *Journal, o PurgeOptions) (*PurgeReport, error) {
	if o.DryRun {
		return purge(ctx, k, o)
	}
	archive, err := l.newArchivePath(o.Archive, time.Now())
	if err != nil {
		return &PurgeReport{Prefix: o.Prefix}, err
	}
	o.Archive = archive
	entry := func(rep *PurgeReport, result, detail string) error {
		_, err := j.Append(Entry{Action: ActPurge, Result: result, Detail: detail, Archive: l.Rel(o.Archive), ArchivePath: o.Archive,
			ArchiveSHA256: rep.ArchiveSHA256, Revision: rep.Revision, Deleted: rep.Deleted, Changed: rep.Changed})
		return err
	}
	o.OnArchived = func(rep *PurgeReport) error {
		return entry(rep, "started", fmt.Sprintf("%d pods archived", rep.Matched))
	}
	rep, err := purge(ctx, k, o)
	if rep.ArchiveSHA256 == "" {
		return rep, err // nothing was archived or deleted, nothing to journal
	}
	result, detail := ResultOK, ""
	if err != nil {
		result, detail = ResultFailed, err.Error()
	}
	if jerr := entry(rep, result, detail); jerr != nil && err == nil {
		err = jerr
	}
	return rep, err
}

// newArchivePath is where this purge's archive goes: --archive made
// absolute and its directory's symlinks resolved (undo runs from another
// directory, and a path outside the root has no node path to look under),
// or a fresh name in the state directory. A path that exists is refused
// before etcd is read; the write itself refuses to replace one too.
func (l *Layout) newArchivePath(given string, now time.Time) (string, error) {
	if given == "" {
		for i := 0; ; i++ {
			p := l.ArchivePath(now)
			if i > 0 {
				p = strings.TrimSuffix(p, ".archive") + fmt.Sprintf("-%d.archive", i)
			}
			if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
				return p, nil
			}
		}
	}
	abs, err := filepath.Abs(given)
	if err != nil {
		return "", fault.Mark(fmt.Errorf("--archive %s: %w", given, err), fault.Invalid)
	}
	dir := filepath.Dir(abs)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("purge: archive: %w", err)
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		abs = filepath.Join(real, filepath.Base(abs))
	}
	if _, err := os.Lstat(abs); !errors.Is(err, os.ErrNotExist) {
		return "", fault.Mark(fmt.Errorf("purge: --archive %s: %w", given, ErrArchiveExists), fault.Invalid)
	}
	return abs, nil
}
