package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// Recheck re-reads a snapshot and compares it with the hash its metadata
// recorded when save verified it. A save's verification only vouches for
// the bytes it hashed: a file corrupted afterwards still has metadata that
// says "verified", and prune must not lean on that. Matching bytes are the
// verified bytes, so a match is as good as verifying again, at the cost of
// one sequential read (no bolt walk).
func Recheck(ctx context.Context, path string) error {
	m, has, err := ReadMetadata(path)
	switch {
	case err != nil:
		return err
	case !has:
		return errors.New("no metadata: nothing vouches for it")
	case !m.Verified:
		return errors.New("metadata does not say it was verified")
	case m.SHA256 == "":
		return errors.New("metadata records no sha256 to recheck")
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, ctxReader{ctx, f}, make([]byte, 1<<20))
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if n != m.Size {
		return fmt.Errorf("size is %d, metadata says %d", n, m.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.SHA256 {
		return fmt.Errorf("sha256 is %s, metadata says %s: the file changed after it was verified", got, m.SHA256)
	}
	return nil
}

// RecheckNewest makes the newest verified entry (not dated in the future)
// one whose bytes are still the verified bytes: each newer one that fails
// Recheck is marked a mismatch, with a warning. entries are newest first,
// as List returns them. justSaved, when set, is a
// file this run verified itself and needs no second read.
func RecheckNewest(ctx context.Context, entries []Entry, justSaved string) []string {
	var warnings []string
	for {
		i := slices.IndexFunc(entries, func(e Entry) bool { return e.Verified && !e.Future })
		if i < 0 || entries[i].Path == justSaved {
			return warnings
		}
		err := Recheck(ctx, entries[i].Path)
		if err == nil || ctx.Err() != nil {
			return warnings
		}
		warnings = append(warnings, fmt.Sprintf("%s: %s; not counted as verified", filepath.Base(entries[i].Path), oneLine(err.Error())))
		entries[i].Verified, entries[i].State = false, StateMismatch
	}
}
