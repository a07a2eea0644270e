package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// FutureSkew is how far ahead of this host's clock a snapshot's time may be
// and still be taken at its word: clocks of the hosts that save and prune
// disagree by seconds, not minutes, when NTP works. Beyond it the time says
// nothing about the snapshot's age (a clock was wrong, or the name edited):
// such a snapshot is kept, reported, and left out of the ranking, so it is
// never "newest", never fills a --keep-last slot or a bucket, and never
// makes a snapshot with a true time look older.
const FutureSkew = 5 * time.Minute

// Policy is a retention policy. A snapshot is kept when any keep rule selects
// it; MaxTotalSize then removes the oldest kept ones until the rest fit.
// Rules override everything: the newest verified snapshot of each cluster
// is never deleted, nor anything younger than MinAge, nor anything dated
// more than FutureSkew ahead of now.
type Policy struct {
	KeepLast     int
	KeepHourly   int
	KeepDaily    int
	KeepWeekly   int
	MaxTotalSize int64
	MinAge       time.Duration
}

// Empty reports whether no rule was given (prune then refuses to guess).
func (p Policy) Empty() bool {
	return p.KeepLast <= 0 && p.KeepHourly <= 0 && p.KeepDaily <= 0 && p.KeepWeekly <= 0 && p.MaxTotalSize <= 0
}

// Decision says what prune does with one snapshot, and why.
type Decision struct {
	Entry
	Keep    bool     `json:"keep"`
	Reasons []string `json:"reasons"`
	// Future: dated more than FutureSkew ahead of now, so not ranked.
	Future bool `json:"future"`
	// newestVerified marks what the plan leans on as its cluster's newest
	// verified snapshot; Prune rechecks exactly these before deleting.
	newestVerified bool
}

// Plan applies a policy to a set of snapshots. It is a pure function of its
// inputs. Each cluster ID is judged on its own: snapshots of two clusters in
// one directory never crowd each other out. The result is newest first.
func Plan(entries []Entry, p Policy, now time.Time) []Decision {
	es := append([]Entry(nil), entries...)
	sortNewestFirst(es)
	ds := make([]Decision, len(es))
	for i, e := range es {
		ds[i] = Decision{Entry: e}
	}
	byCluster := map[string][]*Decision{}
	var order []string
	for i := range ds {
		id := ds[i].ClusterID
		if _, ok := byCluster[id]; !ok {
			order = append(order, id)
		}
		byCluster[id] = append(byCluster[id], &ds[i])
	}
	for _, id := range order {
		planCluster(byCluster[id], p, now)
	}
	return ds
}

func planCluster(all []*Decision, p Policy, now time.Time) {
	keepBy := func(d *Decision, why string) {
		d.Keep = true
		d.Reasons = append(d.Reasons, why)
	}
	var ds []*Decision // the ranked ones: dated no later than now + FutureSkew
	for _, d := range all {
		if d.Created.After(now.Add(FutureSkew)) {
			d.Future = true
			keepBy(d, fmt.Sprintf("dated %s ahead of this clock: not ranked", d.Created.Sub(now).Round(time.Second)))
			continue
		}
		ds = append(ds, d)
	}
	noRules := p.KeepLast <= 0 && p.KeepHourly <= 0 && p.KeepDaily <= 0 && p.KeepWeekly <= 0
	for i, d := range ds {
		if noRules {
			keepBy(d, "no keep rule")
		}
		if i < p.KeepLast {
			keepBy(d, fmt.Sprintf("last %d", p.KeepLast))
		}
	}
	bucket(ds, p.KeepHourly, "hourly", func(t time.Time) string { return t.UTC().Format("2006-01-02T15") }, keepBy)
	bucket(ds, p.KeepDaily, "daily", func(t time.Time) string { return t.UTC().Format("2006-01-02") }, keepBy)
	bucket(ds, p.KeepWeekly, "weekly", func(t time.Time) string {
		y, w := t.UTC().ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	}, keepBy)

	// Protected: the newest verified snapshot, and anything too young.
	protected := map[*Decision]string{}
	for _, d := range ds {
		if d.Verified {
			protected[d] = "newest verified"
			d.newestVerified = true
			break
		}
	}
	for _, d := range ds {
		if p.MinAge > 0 && now.Sub(d.Created) < p.MinAge {
			if _, ok := protected[d]; !ok {
				protected[d] = fmt.Sprintf("younger than --min-age %s", p.MinAge)
			}
		}
	}

	if p.MaxTotalSize > 0 {
		var total int64
		for _, d := range ds {
			if d.Keep || protected[d] != "" {
				total += d.Size
			}
		}
		// Oldest kept ones go first until the rest fit.
		for i := len(ds) - 1; i >= 0 && total > p.MaxTotalSize; i-- {
			d := ds[i]
			if !d.Keep || protected[d] != "" {
				continue
			}
			d.Keep = false
			d.Reasons = []string{fmt.Sprintf("over --max-total-size %d bytes", p.MaxTotalSize)}
			total -= d.Size
		}
	}
	for _, d := range ds {
		if why, ok := protected[d]; ok {
			if !d.Keep {
				d.Reasons = nil
			}
			keepBy(d, why)
		}
		if !d.Keep && len(d.Reasons) == 0 {
			d.Reasons = []string{"no rule keeps it"}
		}
	}
}

// bucket keeps the newest snapshot of each of the n most recent periods that
// have one (restic's and etcd-manager's rule).
func bucket(ds []*Decision, n int, name string, key func(time.Time) string, keep func(*Decision, string)) {
	if n <= 0 {
		return
	}
	seen := map[string]bool{}
	for _, d := range ds { // newest first, so the first of a period is its newest
		k := key(d.Created)
		if seen[k] {
			continue
		}
		if len(seen) == n {
			return
		}
		seen[k] = true
		keep(d, name+" "+k)
	}
}

// PruneResult lists what was (or, in a dry run, would be) deleted.
type PruneResult struct {
	Decisions []Decision `json:"decisions"`
	Deleted   []string   `json:"deleted"`
	DryRun    bool       `json:"dryRun"`
	// FreedBytes is the size of the snapshots deleted (or to be deleted).
	FreedBytes int64 `json:"freedBytes"`
	// Warnings name snapshots that need a person: one whose content no
	// longer matches what was verified, one dated in the future.
	Warnings []string `json:"warnings"`
}

// Prune plans the policy for dir and, unless dryRun, deletes what it does
// not keep: each snapshot file and then its metadata file, nothing else.
//
// Before anything is deleted, the snapshot each cluster's plan keeps as its
// newest verified one is rechecked against its recorded sha256 (a dry run
// does the same, so it shows what --yes would do). One that fails no longer
// counts as verified and the plan is made again, until the snapshot relied
// on is one whose bytes are the verified bytes, or none is left.
// justVerified names files this process verified moments ago (save's own):
// reading them again would prove nothing new.
func Prune(ctx context.Context, dir string, p Policy, now time.Time, dryRun bool, justVerified ...string) (*PruneResult, error) {
	entries, err := List(dir, now)
	if err != nil {
		return nil, err
	}
	res := &PruneResult{DryRun: dryRun, Deleted: []string{}, Warnings: []string{}}
	skip := map[string]bool{}
	for _, p := range justVerified {
		skip[p] = true
	}
	if err := planRechecked(ctx, res, entries, p, now, skip, func(ctx context.Context, d Decision) error { return Recheck(ctx, d.Path) },
		func(d Decision) string { return filepath.Base(d.Path) }, func(d Decision) string { return d.Path }); err != nil {
		return nil, err
	}
	var errs []error
	for _, d := range res.Decisions {
		if d.Keep {
			continue
		}
		if !dryRun {
			if err := os.Remove(d.Path); err != nil && !os.IsNotExist(err) {
				errs = append(errs, err)
				continue
			}
			if err := os.Remove(MetaPath(d.Path)); err != nil && !os.IsNotExist(err) {
				errs = append(errs, err)
			}
		}
		res.Deleted = append(res.Deleted, d.Path)
		res.FreedBytes += d.Size
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("prune: %w", errors.Join(errs...))
	}
	return res, nil
}

// Reasons is for tables.
func (d Decision) Why() string { return strings.Join(d.Reasons, ", ") }

// planRechecked plans the retention, then rechecks (once each) the snapshot
// every cluster's plan leans on as its newest verified one, and plans again
// without any that fails, until each one relied on holds its verified bytes;
// it warns about failures and about snapshots dated in the future. Shared by
// the directory and the destination prune, so they decide alike.
func planRechecked(ctx context.Context, res *PruneResult, entries []Entry, p Policy, now time.Time, skip map[string]bool,
	recheck func(context.Context, Decision) error, name, verifyArg func(Decision) string) error {
	for {
		res.Decisions = Plan(entries, p, now)
		failed := false
		for _, d := range res.Decisions {
			if !d.newestVerified || skip[d.Path] {
				continue
			}
			skip[d.Path] = true
			err := recheck(ctx, d)
			if err == nil {
				continue
			}
			if ctx.Err() != nil {
				return fmt.Errorf("prune: recheck %s: %w", d.Path, ctx.Err())
			}
			failed = true
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %s; not counted as verified (to see why: %s)",
				name(d), oneLine(err.Error()), cluster.ShellJoin([]string{"etcdmedic", "snapshot", "verify", verifyArg(d)})))
			for i := range entries {
				if entries[i].Path == d.Path {
					entries[i].Verified, entries[i].State = false, StateMismatch
				}
			}
		}
		if !failed {
			break
		}
	}
	for _, d := range res.Decisions {
		if d.Future {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: dated %s, %s ahead of this clock: kept and not ranked (check the clock of the host that saved it)",
				name(d), d.Created.Format(time.RFC3339), d.Created.Sub(now).Round(time.Second)))
		}
	}
	return nil
}
