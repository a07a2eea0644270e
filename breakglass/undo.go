package breakglass

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
			if seenArchive[e.Archive] {
				continue
			}
			seenArchive[e.Archive] = true
		case ActRamp:
		default:
			continue
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
		result := ResultOK
		switch e.Action {
		case ActQuarantine:
			if e.Result != ResultOK && !leftInQuarantine(l, e) {
				result, st.Detail = ResultNoChange, "the move had failed and left nothing in quarantine"
				break
			}
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
			res, uerr = restorePurge(ctx, l, e, &o)
			st.Detail = fmt.Sprintf("%d pods restored, %d exist now and were left alone", res.Restored, res.Existing)
		}
		st.Result = result
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
				if x.Action == ActPurge && x.Archive == e.Archive {
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

func restorePurge(ctx context.Context, l *Layout, e Entry, o *UndoOptions) (RestoreResult, error) {
	if o.Cluster == nil {
		return RestoreResult{}, errors.New("restoring pods needs an etcd connection")
	}
	path := l.abs(e.Archive)
	sum, err := FileSHA256(path)
	if err != nil {
		return RestoreResult{}, err
	}
	if e.ArchiveSHA256 != "" && sum != e.ArchiveSHA256 {
		return RestoreResult{}, fmt.Errorf("archive %s does not match the journal's sha256", e.Archive)
	}
	if o.conn == nil {
		k, _, err := connectVoters(ctx, o.Cluster)
		if err != nil {
			return RestoreResult{}, err
		}
		o.conn = &k
	}
	return restoreArchive(ctx, *o.conn, path)
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
