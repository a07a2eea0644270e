package breakglass

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/etcdmedic/etcdmedic/internal/atomicfile"
)

// Move is one manifest to take out of (or put back into) the static-pod directory.
type Move struct {
	Component string `json:"component"`
	From      string `json:"from"` // as on the node
	To        string `json:"to"`
	SHA256    string `json:"sha256"`
	Done      bool   `json:"done"`
	Error     string `json:"error,omitempty"`
}

// EtcdOnlyPlan lists the moves that leave only etcd in the static-pod
// directory. An empty plan means it is already so (idempotence).
func EtcdOnlyPlan(l *Layout) ([]Move, []*Manifest, error) {
	ms, err := ReadManifests(l.ManifestDir)
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
		moves = append(moves, Move{Component: m.Component, From: l.Rel(m.Path), To: l.Rel(filepath.Join(l.QuarantineDir, filepath.Base(m.Path))), SHA256: m.SHA256})
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
		dst, err := quarantine(l, l.abs(mv.From), mv.SHA256)
		if err == nil {
			mv.To = l.Rel(dst)
		}
		e := Entry{Action: ActQuarantine, Path: mv.From, To: mv.To, SHA256: mv.SHA256, Result: ResultOK}
		if err != nil {
			e.Result, e.Detail, mv.Error = ResultFailed, err.Error(), err.Error()
		}
		if _, jerr := j.Append(e); jerr != nil {
			return moves, errors.Join(err, jerr)
		}
		if err != nil {
			return moves, fmt.Errorf("quarantine %s: %w", mv.From, err)
		}
		mv.Done = true
	}
	return moves, nil
}

// quarantine copies src into the quarantine directory durably, checks the
// copy, and only then removes src. A copy left by an interrupted run with the
// same digest is reused; a different file of the same name is kept and the
// new one gets a time suffix.
func quarantine(l *Layout, src, sum string) (string, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	if digest(data) != sum {
		return "", fmt.Errorf("%s changed while planning", src)
	}
	st, err := os.Stat(src)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(l.QuarantineDir, 0o700); err != nil {
		return "", err
	}
	dst := filepath.Join(l.QuarantineDir, filepath.Base(src))
	if old, err := os.ReadFile(dst); err == nil && !bytes.Equal(old, data) {
		dst = fmt.Sprintf("%s.%s", dst, time.Now().UTC().Format("20060102T150405.000Z"))
	}
	if err := atomicfile.WriteFile(dst, data, st.Mode().Perm()); err != nil {
		return "", err
	}
	back, err := os.ReadFile(dst)
	if err != nil || digest(back) != sum {
		return "", fmt.Errorf("copy %s does not verify", dst)
	}
	if err := os.Remove(src); err != nil {
		return "", err
	}
	return dst, atomicfile.SyncDir(filepath.Dir(src))
}

// restore puts a quarantined file back byte-identical, checking the digest
// on both ends; an identical file already in place is success.
func restore(l *Layout, from, to, sum string) error {
	dst, src := l.abs(from), l.abs(to)
	if cur, err := os.ReadFile(dst); err == nil {
		if digest(cur) == sum {
			return nil
		}
		return fmt.Errorf("%s exists with other content; move it away first", from)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if digest(data) != sum {
		return fmt.Errorf("%s does not match the journal's sha256", to)
	}
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(dst, data, st.Mode().Perm()); err != nil {
		return err
	}
	if err := os.Remove(src); err != nil {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(src))
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
