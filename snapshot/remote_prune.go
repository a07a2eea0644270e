package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"gocloud.dev/gcerrors"
)

// Recheck re-reads an object and compares its size and sha256 with its
// metadata, as Recheck does for a file: the ciphertext of an encrypted one
// is what was hashed, so no identity is needed.
func (r *Remote) Recheck(ctx context.Context, name string) error {
	m, has, err := r.readMeta(ctx, name)
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
	h := sha256.New()
	n, err := r.copyObject(ctx, name, h)
	if err != nil {
		return err
	}
	if n != m.Size {
		return fmt.Errorf("size is %d, metadata says %d", n, m.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.SHA256 {
		return fmt.Errorf("sha256 is %s, metadata says %s: the object changed after it was verified", got, m.SHA256)
	}
	return nil
}

// Prune applies the policy to the destination exactly as Prune does to a
// directory (the same Plan, the same recheck of the snapshot each cluster
// leans on as its newest verified one) and deletes, unless dryRun, each
// object it does not keep and then its metadata: nothing it did not name.
func (r *Remote) Prune(ctx context.Context, p Policy, now time.Time, dryRun bool) (*PruneResult, error) {
	entries, err := r.List(ctx, now)
	if err != nil {
		return nil, err
	}
	res := &PruneResult{DryRun: dryRun, Deleted: []string{}, Warnings: []string{}}
	if err := planRechecked(ctx, res, entries, p, now, map[string]bool{}, func(ctx context.Context, d Decision) error { return r.Recheck(ctx, baseOf(d.Entry)) },
		func(d Decision) string { return baseOf(d.Entry) }, func(d Decision) string { return r.CommandURL(baseOf(d.Entry)) }); err != nil {
		return nil, err
	}
	var errs []error
	for _, d := range res.Decisions {
		if d.Keep {
			continue
		}
		if !dryRun {
			name := baseOf(d.Entry)
			if err := r.Bucket.Delete(ctx, r.Key(name)); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
				errs = append(errs, r.classify(errors.New("delete "+d.Path), err))
				continue
			}
			if err := r.Bucket.Delete(ctx, r.Key(name+MetaSuffix)); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
				errs = append(errs, r.classify(errors.New("delete "+d.Path+MetaSuffix), err))
			}
			for _, s := range bundleSuffixes {
				if err := r.Bucket.Delete(ctx, r.Key(name+s)); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
					errs = append(errs, r.classify(errors.New("delete "+d.Path+s), err))
				}
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
