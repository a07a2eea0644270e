// Package keyscope pages through a large etcd key range without making etcd
// count the rest of the range for every page.
//
// etcd (3.5 to 3.7 alike) answers every limited Range with the count of ALL
// keys from the page's first key to the range end, visiting each of them in
// its index under a read lock: paging a large keyspace with one wide range
// end costs O(keys²/page) server CPU, on the server that is already
// struggling. Where the server streams ranges, Pager streams instead; where
// it pages, each page's range end is chosen by a Scoper.
package keyscope

import (
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Scoper walks a key range page by page, choosing each page's range end so
// that the keys etcd counts for a page stay close to the keys it returns.
//
// A scope is [cursor, end), end being the cursor with the byte at some
// position raised by a step: a prefix around the cursor, or a run of its
// siblings. Every answer says how many keys its scope held (etcd's count),
// and the next scope follows from it:
//   - a scope read to its end is followed by the next run of siblings, twice
//     as long when the scope held less than half a page, and by its parent's
//     once the byte would overflow;
//   - a page that left at most a page in its scope keeps the scope;
//   - a page that left more narrows to the prefix its keys share plus the
//     next byte of its last key: the keys after it that look most like it.
//
// A page then costs what it returns plus, once per run of siblings met from
// outside, that run's keys (etcd cannot be asked for less: it counts to the
// range end whatever the limit). The first scope is the cursor's directory.
type Scoper struct {
	cursor   string // next key to read from
	end      string // the current scope's end; "\x00" = the end of the keyspace
	pos      int    // the byte of the cursor a run of siblings is counted in
	step     int    // the length of that run
	limit    int64  // the page size scopes are chosen for
	base     string // the user's prefix: no scope is wider than it
	rangeEnd string // the end of the whole range
	climbed  bool   // the scope is what was left of a parent's run
	empty    bool   // the last scope held nothing
}

// New starts a walk of [cursor, rangeEnd) within the prefix base, for pages
// of up to limit keys.
func New(base, rangeEnd, cursor string, limit int64) *Scoper {
	s := &Scoper{base: base, rangeEnd: rangeEnd, cursor: cursor, limit: max(limit, 1), step: 1}
	s.pos = len(cursor)
	for i := len(cursor) - 1; i >= len(base); i-- {
		if cursor[i] == '/' && i+1 < len(cursor) {
			s.pos = i + 1
			break
		}
	}
	s.end = s.runEnd()
	return s
}

// Cursor is the key the next page starts at.
func (s *Scoper) Cursor() string { return s.cursor }

// End is the range end of the current scope.
func (s *Scoper) End() string { return s.end }

// SetLimit tells the scoper the page size of the next pages.
func (s *Scoper) SetLimit(limit int64) { s.limit = max(limit, 1) }

// Advance moves past a page (an answer to [Cursor, End) with a limit) and
// reports whether anything is left to read.
func (s *Scoper) Advance(resp *clientv3.GetResponse) bool {
	n := int64(len(resp.Kvs))
	if !resp.More {
		if s.end == s.rangeEnd {
			return false
		}
		s.cursor = s.end
		// A run left over from a climb says nothing of its siblings' sizes.
		switch {
		case s.climbed:
		case n == 0 && s.empty:
			s.step *= 4 // crossing a gap: in fewer requests
		case 2*n < s.limit:
			s.step *= 2
		}
		s.step = min(s.step, 256)
		s.empty = n == 0
		s.pos = min(s.pos, len(s.cursor))
		s.end = s.runEnd()
		return true
	}
	first, last := string(resp.Kvs[0].Key), string(resp.Kvs[n-1].Key)
	s.cursor, s.empty = last+"\x00", false
	if resp.Count-n <= 2*s.limit {
		return true
	}
	s.pos, s.step = commonPrefix(first, last), 1
	if narrower := s.runEnd(); before(narrower, s.end) {
		s.end = narrower
	}
	return true
}

// runEnd is the end of the run of step siblings at pos from the cursor,
// climbing to the parent where the byte would overflow, and never past the
// whole range.
func (s *Scoper) runEnd() string {
	s.climbed = false
	for s.pos >= len(s.base) {
		b := 0
		if s.pos < len(s.cursor) {
			b = int(s.cursor[s.pos])
		}
		if b+s.step <= 0xff {
			end := s.cursor[:s.pos] + string([]byte{byte(b + s.step)})
			if before(end, s.rangeEnd) {
				return end
			}
			return s.rangeEnd
		}
		s.pos, s.step, s.climbed = s.pos-1, 1, true
	}
	return s.rangeEnd
}

// before says whether range end a comes before range end b ("\x00" is the
// end of the keyspace).
func before(a, b string) bool {
	if a == "\x00" {
		return false
	}
	return b == "\x00" || a < b
}

func commonPrefix(a, b string) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}
