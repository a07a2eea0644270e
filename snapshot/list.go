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
	Path       string    `json:"path"`
	ClusterID  string    `json:"clusterId"`
	Revision   int64     `json:"revision"`
	Created    time.Time `json:"created"`
	Size       int64     `json:"size"`
	Compressed bool      `json:"compressed"`
	// Verified: the metadata says the save verified it and the size still matches.
	Verified bool `json:"verified"`
	// State is verified, unverified (no metadata) or mismatch (metadata disagrees with the file).
	State      string  `json:"state"`
	TotalKeys  int     `json:"totalKeys"`
	MemberID   string  `json:"memberId"`
	HasMeta    bool    `json:"hasMetadata"`
	AgeSeconds float64 `json:"ageSeconds"`
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
			if m.Size == fi.Size() && m.Revision == n.Revision && m.Verified {
				e.State, e.Verified = StateVerified, true
			} else {
				e.State = StateMismatch
			}
		}
		e.AgeSeconds = now.Sub(e.Created).Seconds()
		out = append(out, e)
	}
	sortNewestFirst(out)
	return out, nil
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
