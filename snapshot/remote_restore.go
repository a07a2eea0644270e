package snapshot

import (
	"context"
	"fmt"
)

// RestoreRemote downloads the object into a temporary directory (decrypting
// it with the identities), checks the object against its metadata, and then
// restores it as Restore does a file (which verifies it in full first). The
// download is removed afterwards.
func (r *Remote) RestoreRemote(ctx context.Context, name string, o RestoreOptions, fo FetchOptions) (*RestoreResult, error) {
	o.Defaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := CheckEmpty(o.DataDir); err != nil {
		return nil, err
	}
	if fo.TempDir == "" {
		fo.TempDir = o.TempDir
	}
	f, err := r.fetch(ctx, name, fo)
	if err != nil {
		return nil, err
	}
	defer f.remove()
	if f.locked {
		return nil, fmt.Errorf("%w: %s: give --identity to restore it", ErrEncrypted, r.URLOf(name))
	}
	if len(f.problems) > 0 {
		return nil, fmt.Errorf("%w: %s: %s", ErrCorrupt, r.URLOf(name), f.problems[0])
	}
	o.File = f.path
	if o.TempDir == "" {
		o.TempDir = f.dir
	}
	res, err := Restore(ctx, o)
	if res != nil && res.Verify != nil {
		res.Verify.File = r.URLOf(name)
	}
	return res, err
}
