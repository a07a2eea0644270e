package snapshot

import (
	"context"
	"errors"
	"io"
	"path"
	"strings"
	"time"

	"gocloud.dev/blob"
)

// ListRemote returns the snapshots under the destination's prefix that this
// tool named, newest first, as List does for a directory: Path is each
// object's URL. Other objects, and uploads in progress, are ignored.
func (r *Remote) List(ctx context.Context, now time.Time) ([]Entry, error) {
	it := r.Bucket.List(&blob.ListOptions{Prefix: r.Prefix, Delimiter: "/"})
	var out []Entry
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, r.classify(errors.New("list "+r.Display), err)
		}
		base := strings.TrimPrefix(o.Key, r.Prefix)
		if o.IsDir {
			continue
		}
		n, ok := ParseName(strings.TrimSuffix(base, extAge))
		if !ok {
			continue
		}
		e := Entry{Path: r.URLOf(base), URL: r.CommandURL(base), ClusterID: n.ClusterID, Revision: n.Revision, Created: n.Created,
			Size: o.Size, Compressed: n.Compressed, State: StateUnverified}
		m, has, err := r.readMeta(ctx, base)
		switch {
		case err != nil:
			e.State = StateMismatch
		case has:
			e.HasMeta, e.TotalKeys, e.MemberID = true, m.TotalKeys, m.MemberID
			encrypted := strings.HasSuffix(base, extAge)
			if m.Size == o.Size && m.Revision == n.Revision && m.ClusterID == n.ClusterID && sameInstant(m.Created, n.Created) && m.Verified && m.Encrypted == encrypted {
				e.State, e.Verified = StateVerified, true
			} else {
				e.State = StateMismatch
			}
		}
		e.AgeSeconds = now.Sub(e.Created).Seconds()
		e.Future = e.Created.After(now.Add(FutureSkew))
		out = append(out, e)
	}
	sortNewestFirst(out)
	return out, nil
}

// baseOf is the object name of an entry's URL.
func baseOf(e Entry) string { return path.Base(e.Path) }
