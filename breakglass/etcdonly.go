package breakglass

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Move is one manifest to take out of (or put back into) the static-pod directory.
type Move struct {
	Component string `json:"component"`
	From      string `json:"from"` // as on the node
	To        string `json:"to"`
	SHA256    string `json:"sha256"`
	// Link is the symlink's target text when the manifest is a link: the
	// link is moved, its target's content copied and left where it is.
	Link  string `json:"link,omitempty"`
	Done  bool   `json:"done"`
	Error string `json:"error,omitempty"`
}

// EtcdOnlyPlan lists the moves that leave only etcd in the static-pod
// directory. An empty plan means it is already so (idempotence).
func EtcdOnlyPlan(l *Layout) ([]Move, []*Manifest, error) {
	ms, err := l.manifests()
	if err != nil {
		return nil, nil, err
	}
	var moves []Move
	var keep []*Manifest
	for _, m := range ms {
		if m.Component == Etcd {
			keep = append(keep, m)
			continue
		}
		moves = append(moves, Move{Component: m.Component, From: l.Rel(m.Path), To: l.Rel(filepath.Join(l.QuarantineDir, filepath.Base(m.Path))), SHA256: m.SHA256, Link: m.Link})
	}
	if len(keep) == 0 {
		return nil, nil, fmt.Errorf("%w: no etcd manifest in %s (refusing to empty the directory)", ErrNoManifests, l.ManifestDir)
	}
	return moves, keep, nil
}

// EtcdOnly moves every non-etcd manifest into the quarantine directory and
// journals each move. It stops at the first failure.
func EtcdOnly(l *Layout, j *Journal) ([]Move, error) {
	moves, _, err := EtcdOnlyPlan(l)
	if err != nil {
		return nil, err
	}
	for i := range moves {
		mv := &moves[i]
		// The move is journaled before it is made (quarantine calls back
		// once it knows where the copy goes): killed after the manifest
		// left, undo still finds it; killed before, undo finds it in place.
		var intent *Entry
		entry := func(q moved) Entry {
			e := Entry{Action: ActQuarantine, Path: mv.From, To: l.Rel(q.dst), SHA256: mv.SHA256, LinkTarget: q.link, Result: ResultOK}
			uid, gid := q.owner.UID, q.owner.GID
			e.UID, e.GID = &uid, &gid
			if q.link == "" {
				e.Mode = fmt.Sprintf("%04o", q.mode)
			}
			return e
		}
		q, err := quarantine(l, l.abs(mv.From), mv.SHA256, mv.Link, func(q moved) error {
			e, err := j.Append(entry(q))
			intent = &e
			return err
		})
		if q.dst != "" {
			mv.To = l.Rel(q.dst)
		}
		if err != nil {
			var jerr error
			if intent != nil && intent.Seq != 0 {
				// The journaled move did not happen: taken back, so undo
				// and apiserver do not count it as quarantined.
				_, jerr = j.Append(Entry{Action: ActUndo, Ref: intent.Seq, Result: ResultOK, Path: mv.From, Detail: "the move failed: " + err.Error()})
			}
			e := Entry{Action: ActQuarantine, Path: mv.From, To: mv.To, SHA256: mv.SHA256, LinkTarget: q.link, Result: ResultFailed, Detail: err.Error()}
			if q.dst != "" {
				e = entry(q)
				e.Result, e.Detail = ResultFailed, err.Error()
			}
			mv.Error = err.Error()
			if _, aerr := j.Append(e); aerr != nil || jerr != nil {
				return moves, errors.Join(err, jerr, aerr)
			}
			return moves, fmt.Errorf("quarantine %s: %w", mv.From, err)
		}
		mv.Done = true
	}
	return moves, nil
}

// abs maps a node path back under the root.
func (l *Layout) abs(p string) string { return filepath.Join(l.Root, filepath.Clean("/"+p)) }

// WaitContainersGone waits, bounded, until crictl lists no running container
// with one of the names. It reports false without error when crictl is absent.
func WaitContainersGone(ctx context.Context, names []string, timeout time.Duration) (bool, error) {
	crictl, err := exec.LookPath("crictl")
	if err != nil {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		left := 0
		for _, n := range names {
			out, err := exec.CommandContext(ctx, crictl, "ps", "-q", "--label", "io.kubernetes.container.name="+n).Output()
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				return true, fmt.Errorf("crictl ps: %w", err)
			}
			if strings.TrimSpace(string(out)) != "" {
				left++
			}
		}
		if left == 0 {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return true, fmt.Errorf("containers %s still running after %s (the kubelet checks its directory every 20 s)", strings.Join(names, ","), timeout)
		case <-time.After(time.Second):
		}
	}
}
