package breakglass

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
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
	if o.Archive == "" {
		o.Archive = l.ArchivePath(time.Now())
	}
	entry := func(rep *PurgeReport, result, detail string) error {
		_, err := j.Append(Entry{Action: ActPurge, Result: result, Detail: detail, Archive: l.Rel(o.Archive),
			ArchiveSHA256: rep.ArchiveSHA256, Revision: rep.Revision, Deleted: rep.Deleted, Changed: rep.Changed})
		return err
	}
	o.OnArchived = func(rep *PurgeReport) error {
		return entry(rep, "started", fmt.Sprintf("%d pods archived", rep.Matched))
	}
	rep, err := purge(ctx, k, o)
	if rep.Matched == 0 && rep.ArchiveSHA256 != "" {
		// Nothing matched: an empty archive would only confuse undo.
		_ = os.Remove(o.Archive)
		rep.Archive, rep.ArchiveSHA256 = "", ""
	}
	if rep.ArchiveSHA256 == "" {
		return rep, err // nothing was deleted, nothing to journal
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
