package breakglass

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// UndoOptions choose what undo may touch.
type UndoOptions struct {
	DryRun bool
	// RestorePods puts purged pods back from their archives (only where the
	// key does not exist now). Off by default: restoring pods is a decision.
	RestorePods bool
	Cluster     *cluster.Cluster // required with RestorePods: restores go to its voters
	// conn is the voter client, opened for the first archive restored.
	conn *kvConn
}

// UndoStep is one journal entry being reverted.
type UndoStep struct {
	Ref    int    `json:"ref"`
	Action string `json:"action"`
	Path   string `json:"path"`
	Result string `json:"result"` // ok, unchanged, pending, failed, would-undo
	Detail string `json:"detail,omitempty"`
	// Pods is what a purge's undo did with its archive.
	Pods *RestoreResult `json:"pods,omitempty"`
}

// archiveKey tells purges apart: the "started", "ok" and "failed" entries of
// one purge share it. The digest is part of it because an older etcdmedic
// could write two purges' archives to one path.
func archiveKey(e Entry) string {
	return firstNonEmpty(e.ArchivePath, e.Archive) + "\x00" + e.ArchiveSHA256
}

// UndoPlan lists, newest first, the entries undo would revert.
func UndoPlan(j *Journal) ([]Entry, error) {
	entries, err := j.Read()
	if err != nil {
		return nil, err
	}
	undone := Undone(entries)
	seenArchive := map[string]bool{}
	var out []Entry
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if undone[e.Seq] || e.Action == ActUndo {
			continue
		}
		switch e.Action {
		case ActQuarantine:
			// A failed move may have left its copy in quarantine (a
			// directory where the original could not be removed): undo
			// takes it away again.
			if e.Result != ResultOK && e.To == "" {
				continue
			}
		case ActWriteBG:
			if e.Result != ResultOK {
				continue
			}
		case ActPurge:
			// "started", "ok" and "failed" entries of one purge share
			// their archive; each archive is restored once.
			if seenArchive[archiveKey(e)] {
				continue
			}
			seenArchive[archiveKey(e)] = true
		case ActRamp:
		default:
			if !undoable(e) {
				continue
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// Undo walks the journal backwards and reverts each entry: manifests come
// back byte-identical, the break-glass manifest goes, and with RestorePods
// the purged pods return. It stops at the first conflict.
func Undo(ctx context.Context, l *Layout, j *Journal, o UndoOptions) ([]UndoStep, error) {
	plan, err := UndoPlan(j)
	if err != nil {
		return nil, err
	}
	defer func() {
		if o.conn != nil {
			o.conn.cli.Close()
		}
	}()
	all, _ := j.Read()
	var steps []UndoStep
	for _, e := range plan {
		if e.Action == ActQuarantine && e.Result != ResultOK && !leftInQuarantine(l, e) {
			continue // a failed move that cleaned up after itself: nothing to revert
		}
		st := UndoStep{Ref: e.Seq, Action: e.Action, Path: firstNonEmpty(e.Path, e.Archive)}
		if o.DryRun {
			st.Result = "would-undo"
			if e.Action == ActPurge && !o.RestorePods {
				st.Result, st.Detail = "pending", "pass --pods to restore purged pods"
			}
			steps = append(steps, st)
			continue
		}
		var uerr error
		switch e.Action {
		case ActQuarantine:
			st.Detail, uerr = restore(l, e)
		case ActWriteBG:
			uerr = removeBreakGlass(l, e.Path)
		case ActRamp:
			st.Detail = "the break-glass manifest it changed is removed with its own entry"
		case ActPurge:
			if !o.RestorePods {
				st.Result, st.Detail = "pending", "pass --pods to restore purged pods"
				steps = append(steps, st)
				continue
			}
			var res RestoreResult
			var archive string
			res, archive, uerr = restorePurge(ctx, l, e, &o)
			st.Pods = &res
			st.Detail = fmt.Sprintf("archive %s: %d of its %d pods restored, %d exist now and were left alone", archive, res.Restored, res.Archived, res.Existing)
		default:
			st.Detail, uerr = undoers[e.Action](ctx, l, e)
		}
		st.Result = ResultOK
		if uerr != nil {
			st.Result, st.Detail = ResultFailed, uerr.Error()
		}
		steps = append(steps, st)
		if uerr != nil {
			return steps, fmt.Errorf("undo #%d %s %s: %w", e.Seq, e.Action, st.Path, uerr)
		}
		refs := []int{e.Seq}
		if e.Action == ActPurge {
			refs = nil
			for _, x := range all {
				if x.Action == ActPurge && archiveKey(x) == archiveKey(e) {
					refs = append(refs, x.Seq)
				}
			}
		}
		for _, ref := range refs {
			if _, err := j.Append(Entry{Action: ActUndo, Ref: ref, Result: ResultOK, Path: st.Path, Detail: st.Detail}); err != nil {
				return steps, err
			}
		}
	}
	return steps, nil
}

func removeBreakGlass(l *Layout, nodePath string) error {
	dir, err := resolveIn(l.Root, filepath.Dir(l.abs(nodePath)))
	if err != nil {
		return err
	}
	path := filepath.Join(dir, filepath.Base(nodePath))
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	m, err := ParseManifest(path, data)
	if err != nil {
		return err
	}
	if !m.IsBreakGlass() {
		return fmt.Errorf("%s is no longer the break-glass manifest; left alone", path)
	}
	return os.Remove(path)
}

func restorePurge(ctx context.Context, l *Layout, e Entry, o *UndoOptions) (RestoreResult, string, error) {
	if o.Cluster == nil {
		return RestoreResult{}, "", errors.New("restoring pods needs an etcd connection")
	}
	path, err := findArchive(l, e)
	if err != nil {
		return RestoreResult{}, "", err
	}
	if o.conn == nil {
		k, _, err := connectVoters(ctx, o.Cluster)
		if err != nil {
			return RestoreResult{}, path, err
		}
		o.conn = &k
	}
	res, err := restoreArchive(ctx, *o.conn, path)
	return res, path, err
}

// findArchive is the journaled archive, checked against its digest: where
// the purge wrote it (archivePath), else its node path under this root (an
// attached disk mounted elsewhere now, or a journal from before
// archivePath).
func findArchive(l *Layout, e Entry) (string, error) {
	var candidates, tried []string
	if e.ArchivePath != "" {
		candidates = append(candidates, e.ArchivePath)
	}
	if e.Archive != "" {
		candidates = append(candidates, l.abs(e.Archive))
	}
	for _, p := range candidates {
		sum, err := FileSHA256(p)
		if errors.Is(err, os.ErrNotExist) {
			tried = append(tried, p)
			continue
		}
		if err != nil {
			return p, err
		}
		if e.ArchiveSHA256 != "" && sum != e.ArchiveSHA256 {
			return p, fmt.Errorf("archive %s does not match the journal's sha256: it is not the archive of purge #%d (replaced since?); its pods cannot be restored from it", p, e.Seq)
		}
		return p, nil
	}
	return "", fmt.Errorf("the archive of purge #%d is not at %s", e.Seq, strings.Join(tried, " nor at "))
}

// leftInQuarantine says whether a failed move's copy is still there.
func leftInQuarantine(l *Layout, e Entry) bool {
	p, err := resolveIn(l.Root, l.abs(e.To))
	if err != nil {
		return true // let restore say what is wrong
	}
	_, err = os.Lstat(p)
	return err == nil
}
