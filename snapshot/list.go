package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Entry is one snapshot file in a directory, as its name and metadata
// describe it (list never reads the database itself: that is verify's job).
type Entry struct {
	Path string `json:"path"`
	// URL is set for a snapshot at a destination: its URL with the
	// destination's query (endpoint, region, path style), as verify, drill
	// and restore take it. Path names it without the query.
	URL        string    `json:"url,omitempty"`
	ClusterID  string    `json:"clusterId"`
	Revision   int64     `json:"revision"`
	Created    time.Time `json:"created"`
	Size       int64     `json:"size"`
	Compressed bool      `json:"compressed"`
	// Verified: the metadata says the save verified it, and its size, cluster,
	// revision and time agree with the file (list reads no data: prune
	// rechecks the sha256 of the one it relies on).
	Verified bool `json:"verified"`
	// State is verified, unverified (no metadata) or mismatch (metadata disagrees with the file).
	State      string  `json:"state"`
	TotalKeys  int     `json:"totalKeys"`
	MemberID   string  `json:"memberId"`
	HasMeta    bool    `json:"hasMetadata"`
	AgeSeconds float64 `json:"ageSeconds"`
	// Future: dated more than FutureSkew ahead of the clock, so its age is
	// unknown (see FutureSkew).
	Future bool `json:"future"`
}

// Entry states.
const (
	StateVerified   = "verified"
	StateUnverified = "unverified"
	StateMismatch   = "mismatch"
)

// List returns the snapshots in dir that this tool named, newest first.
// Other files are ignored.
func List(dir string, now time.Time) ([]Entry, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, de := range des {
		n, ok := ParseName(de.Name())
		if !ok || !de.Type().IsRegular() {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		e := Entry{
			Path: filepath.Join(dir, de.Name()), ClusterID: n.ClusterID, Revision: n.Revision,
			Created: n.Created, Size: fi.Size(), Compressed: n.Compressed, State: StateUnverified,
		}
		m, has, err := ReadMetadata(e.Path)
		switch {
		case err != nil:
			e.State = StateMismatch
		case has:
			e.HasMeta, e.TotalKeys, e.MemberID = true, m.TotalKeys, m.MemberID
			if m.Size == fi.Size() && m.Revision == n.Revision && m.ClusterID == n.ClusterID && sameInstant(m.Created, n.Created) && m.Verified {
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

// sameInstant compares the name's time with the metadata's: both come from
// one clock reading, the name's cut to the millisecond (or, in names from
// before, to the second). Apart, one of them was edited and neither can be
// trusted to say how old the snapshot is.
func sameInstant(meta, name time.Time) bool {
	d := meta.Sub(name)
	return d > -time.Second && d < time.Second
}

func sortNewestFirst(es []Entry) {
	sort.SliceStable(es, func(i, j int) bool {
		if !es[i].Created.Equal(es[j].Created) {
			return es[i].Created.After(es[j].Created)
		}
		if es[i].Revision != es[j].Revision {
			return es[i].Revision > es[j].Revision
		}
		return es[i].Path > es[j].Path
	})
}

// String is for logs.
func (e Entry) String() string {
	return fmt.Sprintf("%s (rev %d, %s)", filepath.Base(e.Path), e.Revision, e.State)
}
