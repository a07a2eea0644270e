// Package keyscope pages through a large etcd key range without making etcd
// count the rest of the range for every page.
//
// etcd answers every limited Range with the count of ALL keys from the page's
// first key to the range end, visiting each of them in its index under a read
// lock: paging a large keyspace with one wide range end costs O(keys²/page)
// server CPU, on the server that is already struggling.
package keyscope

import (
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Scoper walks a key range page by page, keeping each page's range end at the
// narrowest "directory" (prefix ending in "/") around the cursor, so that the
// server counts only that directory's keys for each page.
type Scoper struct {
	cursor   string   // next key to read from
	scopes   []string // prefixes around the cursor, narrowest first
	level    int      // index into scopes of the current scope; len(scopes) = whole range
	base     string   // the user's prefix: no scope is wider than it
	rangeEnd string   // the end of the whole range
}

// New starts a walk of [cursor, rangeEnd) within the prefix base.
func New(base, rangeEnd, cursor string) *Scoper {
	s := &Scoper{base: base, rangeEnd: rangeEnd}
	s.narrowTo(cursor, cursor)
	return s
}

// narrowTo makes the scopes those around key, continuing from cursor.
func (s *Scoper) narrowTo(key, cursor string) {
	s.cursor, s.level, s.scopes = cursor, 0, s.scopes[:0]
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] != '/' {
			continue
		}
		scope := key[:i+1]
		if len(scope) <= len(s.base) {
			break
		}
		s.scopes = append(s.scopes, scope)
	}
}

// Cursor is the key the next page starts at.
func (s *Scoper) Cursor() string { return s.cursor }

// End is the range end of the current scope.
func (s *Scoper) End() string {
	if s.level < len(s.scopes) {
		return clientv3.GetPrefixRangeEnd(s.scopes[s.level])
	}
	return s.rangeEnd
}

// Advance moves past a page whose last key was last (empty when the page was
// empty) and reports whether anything is left to read.
func (s *Scoper) Advance(last string, more bool) bool {
	if last == "" {
		return s.widen()
	}
	// Continue right after the last key, in the narrowest scope around it.
	s.narrowTo(last, last+"\x00")
	if more {
		return true
	}
	// The scope the page was read in is exhausted, and so is every narrower
	// one around its last key: leave the narrowest, and keep widening past
	// empty ones (each such request counts nothing).
	return s.widen()
}

// widen leaves the current scope (exhausted) for its parent.
func (s *Scoper) widen() bool {
	if s.level >= len(s.scopes) {
		return false // the whole range is done
	}
	end := s.End()
	if end == "\x00" || (s.rangeEnd != "\x00" && strings.Compare(end, s.rangeEnd) >= 0) {
		return false
	}
	s.cursor = end
	s.level++
	return true
}
