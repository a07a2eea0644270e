package snapshot

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// timeLayout is compact, sorts lexically and is safe in every filesystem.
	// Milliseconds, so that saves in the same second get distinct names that
	// still sort by time; names from before (whole seconds) parse too.
	timeLayout    = "20060102T150405.000Z"
	oldTimeLayout = "20060102T150405Z"
	extDB         = ".db"
	extZstd       = ".db.zst"
	// MetaSuffix is appended to a snapshot's file name for its metadata file.
	MetaSuffix = ".meta.json"
	// tempPrefix marks this tool's in-progress files; only these are ever
	// cleaned up as leftovers.
	tempPrefix = ".etcdmedic-snapshot-"
	tempSuffix = ".part"
)

// Compiled on first use: a package-level regexp is compiled at start-up by
// every command, which this one is not.
var namePattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^etcd-([0-9a-f]{16})-([0-9]+)-([0-9]{8}T[0-9]{6}(?:\.[0-9]{3})?Z)(\.db|\.db\.zst)$`)
})

// FileName is the final name of a snapshot; at counts to the millisecond.
func FileName(clusterID uint64, revision int64, at time.Time, compressed bool) string {
	ext := extDB
	if compressed {
		ext = extZstd
	}
	return fmt.Sprintf("etcd-%016x-%d-%s%s", clusterID, revision, at.UTC().Format(timeLayout), ext)
}

// Name is what a snapshot's file name says about it.
type Name struct {
	ClusterID  string
	Revision   int64
	Created    time.Time
	Compressed bool
}

// ParseName recognises a file name this package gave; ok is false for any other file.
func ParseName(base string) (Name, bool) {
	m := namePattern().FindStringSubmatch(base)
	if m == nil {
		return Name{}, false
	}
	rev, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return Name{}, false
	}
	layout := timeLayout
	if len(m[3]) == len(oldTimeLayout) {
		layout = oldTimeLayout
	}
	at, err := time.Parse(layout, m[3])
	if err != nil {
		return Name{}, false
	}
	return Name{ClusterID: m[1], Revision: rev, Created: at, Compressed: m[4] == extZstd}, true
}

// MetaPath is the metadata file of a snapshot.
func MetaPath(path string) string { return path + MetaSuffix }

// IsCompressed tells by name whether a file is zstd-compressed.
func IsCompressed(path string) bool {
	return strings.HasSuffix(filepath.Base(path), ".zst")
}
