package snapshot

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Policy is a retention policy. A snapshot is kept when any keep rule selects
// it; MaxTotalSize then removes the oldest kept ones until the rest fit.
// Two rules override everything: the newest verified snapshot of each cluster
// is never deleted, and nothing younger than MinAge is.
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

func planCluster(ds []*Decision, p Policy, now time.Time) {
	keepBy := func(d *Decision, why string) {
		d.Keep = true
		d.Reasons = append(d.Reasons, why)
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
}

// Prune plans the policy for dir and, unless dryRun, deletes what it does
// not keep: each snapshot file and then its metadata file, nothing else.
func Prune(dir string, p Policy, now time.Time, dryRun bool) (*PruneResult, error) {
	entries, err := List(dir, now)
	if err != nil {
		return nil, err
	}
	res := &PruneResult{Decisions: Plan(entries, p, now), DryRun: dryRun, Deleted: []string{}}
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
