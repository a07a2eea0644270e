package snapshot

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// ErrCorrupt marks a snapshot that failed verification: a failure.
var ErrCorrupt = fault.New(fault.Failed, "snapshot corrupted")

// VerifyResult is what verify found. Problems make the snapshot unusable;
// Warnings mean a check could not be made.
type VerifyResult struct {
	File       string `json:"file"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	Compressed bool   `json:"compressed"`
	DBSize     int64  `json:"dbSize"`
	DBSHA256   string `json:"dbSha256"`
	// Integrity is etcd's appended sha256: ok, missing or mismatch.
	Integrity string `json:"integrity"`
	// Metadata is ok, absent or mismatch.
	Metadata  string `json:"metadata"`
	Revision  int64  `json:"revision"`
	TotalKeys int    `json:"totalKeys"`
	// TotalSize is the bolt database size as etcdutl reports it.
	TotalSize int64  `json:"totalSize"`
	Version   string `json:"version"`
	Hash      uint32 `json:"hash"`
	RaftIndex uint64 `json:"raftIndex"`
	RaftTerm  uint64 `json:"raftTerm"`
	// Encrypted: the object is age-encrypted; Recipients are the public
	// keys it is encrypted to, as its metadata records them ([] when not
	// encrypted or not recorded); Decrypted: an identity opened it, so the
	// database inside was checked too (else only the ciphertext was).
	Encrypted  bool     `json:"encrypted"`
	Recipients []string `json:"recipients"`
	Decrypted  bool     `json:"decrypted"`

	Problems []string `json:"problems"`
	Warnings []string `json:"warnings"`
}

// OK reports whether the snapshot passed every check that could be made.
func (r *VerifyResult) OK() bool { return len(r.Problems) == 0 }

// Err is nil for a good snapshot, else an ErrCorrupt naming the first problem.
func (r *VerifyResult) Err() error {
	if r.OK() {
		return nil
	}
	return fmt.Errorf("%w: %s: %s", ErrCorrupt, r.File, r.Problems[0])
}

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// TempDir holds the decompressed copy of a .zst snapshot (default: the OS temp dir).
	TempDir string
	// KeepDecompressed leaves the decompressed copy for the caller (restore),
	// which must remove it; its path is returned.
	KeepDecompressed bool
}

// Verify checks a snapshot file: its sha256 against the metadata, etcd's
// appended integrity hash, and a full read of the bolt database giving what
// etcdutl's snapshot status gives (consistency check, revision, live keys,
// storage version, crc32 hash). A missing file is an
// fs.ErrNotExist error; a bad file is a result with Problems.
func Verify(ctx context.Context, path string, opts VerifyOptions) (*VerifyResult, string, error) {
	r := &VerifyResult{File: path, Compressed: IsCompressed(path), Recipients: []string{}}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", err
	}
	if fi.IsDir() {
		return nil, "", fmt.Errorf("%s is a directory", path)
	}
	r.Size = fi.Size()
	meta, hasMeta, metaErr := ReadMetadata(path)

	dbPath := path
	var dg *digest
	var st dbStatus
	var stErr error
	var readOK bool // the bolt read ran and succeeded: its figures can be compared
	// read is the bolt read; vouched, when set, the verdict it waits for.
	// Without etcd's appended hash nothing will vouch: the read proves
	// the page pointers itself and checks first, as etcdutl does.
	read := func() (dbStatus, error) { return readUntrusted(dbPath, walkFull, nil) }
	var vouched *vouch
	if r.Compressed {
		tmp, err := os.CreateTemp(opts.TempDir, tempPrefix+"verify-*"+extDB)
		if err != nil {
			return nil, "", fmt.Errorf("verify %s: %w", path, err)
		}
		dbPath = tmp.Name()
		cleanup := func() { tmp.Close(); os.Remove(dbPath) }
		dg = newDigest()
		r.SHA256, _, err = decompressTo(ctx, f, io.MultiWriter(tmp, dg))
		if err != nil {
			cleanup()
			if ctx.Err() != nil {
				return nil, "", ctx.Err()
			}
			r.Problems = append(r.Problems, "zstd stream damaged or truncated: "+err.Error())
			r.Integrity, r.Metadata = string(integrityMissing), compareMeta(r, meta, hasMeta, metaErr, false)
			return r, "", nil
		}
		tmp.Close()
		if !opts.KeepDecompressed {
			defer os.Remove(dbPath)
		} else {
			defer func() {
				if len(r.Problems) > 0 {
					os.Remove(dbPath)
				}
			}()
		}
	} else {
		if hasAppendedHash(r.Size) {
			// The bolt read runs beside the hash, on the other core, and
			// uses nothing of the content before the hash vouched for it
			// (readUntrusted).
			v, walked := newVouch(), make(chan walkResult, 1)
			go func() {
				st, err := readUntrusted(dbPath, walkFull, v)
				walked <- walkResult{st, err}
				close(walked)
			}()
			vouched = v
			read = func() (dbStatus, error) { w := <-walked; return w.st, w.err }
			// A read the hash condemned stops at its next look at the
			// verdict; it is waited for (its file closed) and not used.
			defer func() { v.give(false); <-walked }()
		}
		dg = newDigest()
		if _, err = io.CopyBuffer(dg, ctxReader{ctx, f}, make([]byte, 1<<20)); err != nil {
			vouched.give(false)
			return nil, "", fmt.Errorf("verify %s: %w", path, err)
		}
	}
	integ, dbSHA := dg.finish()
	r.DBSize, r.DBSHA256, r.Integrity = dg.n, dbSHA, string(integ)
	if !r.Compressed {
		r.SHA256 = dbSHA
	}
	switch integ {
	case integrityMismatch:
		r.Problems = append(r.Problems, "etcd's appended sha256 does not match the content: the file is corrupted or truncated")
	case integrityMissing:
		if hasMeta && meta != nil && meta.DBSize != dg.n {
			r.Problems = append(r.Problems, fmt.Sprintf("truncated or extended: database is %d bytes, metadata says %d, and etcd's appended sha256 is missing", dg.n, meta.DBSize))
		} else {
			r.Warnings = append(r.Warnings, fmt.Sprintf("no sha256 appended (size %d is not 512·k+32): a database copied from a data dir, or a truncated snapshot; only the bolt read vouches for it", dg.n))
		}
	}
	if integ == integrityOK && r.Compressed {
		// The decompressed copy is vouched for before the read starts.
		read = func() (dbStatus, error) { return readStatus(dbPath, walkFull) }
	}
	switch {
	case integ == integrityMismatch:
		r.Warnings = append(r.Warnings, "bolt read skipped: the content is already known to be corrupted")
	case integ != integrityOK && hasMeta && meta != nil && meta.DBSHA256 != "" && meta.DBSHA256 != dbSHA:
		// etcd's own hash, when it matches, vouches for the bytes even
		// though the metadata does not: the read is safe then, and says
		// more than the mismatch alone.
		r.Warnings = append(r.Warnings, "bolt read skipped: the content differs from what was saved")
	default:
		// bbolt trusts page pointers; a damaged page can fault the process,
		// so the bolt read only uses content no hash has condemned.
		if vouched != nil && integ != integrityOK {
			// The file changed size under the hash: read it again, on its own.
			vouched.give(false)
			read = func() (dbStatus, error) { return readUntrusted(dbPath, walkFull, nil) }
		}
		vouched.give(true)
		st, stErr = read()
		readOK = stErr == nil
	}
	if stErr != nil {
		r.Problems = append(r.Problems, "bolt database check failed: "+oneLine(stErr.Error()))
	} else {
		r.Revision, r.TotalKeys, r.TotalSize, r.Version, r.Hash, r.RaftIndex, r.RaftTerm = st.Revision, st.TotalKey, st.TotalSize, st.Version, st.Hash, st.ConsistentIndex, st.Term
	}
	r.Metadata = compareMeta(r, meta, hasMeta, metaErr, readOK)
	if opts.KeepDecompressed && r.Compressed && r.OK() {
		return r, dbPath, nil
	}
	return r, "", nil
}

// walkResult is a bolt read done on its own goroutine.
type walkResult struct {
	st  dbStatus
	err error
}

// hasAppendedHash reports a size etcd's snapshot has: the database's pages
// (whole multiples of 512 bytes) and the 32 bytes of its sha256.
func hasAppendedHash(size int64) bool { return size%512 == sha256.Size }

// compareMeta checks the file against every field of its metadata that
// verify recomputes, and records each mismatch as a problem: metadata that
// disagrees with the file, whichever of the two was changed, no longer
// describes it, and nothing vouches for the file any more. Figures of the
// bolt read are compared only when it ran (read).
func compareMeta(r *VerifyResult, m *Metadata, has bool, err error, read bool) string {
	switch {
	case err != nil:
		r.Warnings = append(r.Warnings, oneLine(err.Error()))
		return "unreadable"
	case !has:
		r.Warnings = append(r.Warnings, "no metadata file "+MetaPath(r.File)+": sha256 not compared")
		return "absent"
	}
	before := len(r.Problems)
	bad := func(what string, got, want any) {
		r.Problems = append(r.Problems, fmt.Sprintf("%s is %v, metadata says %v", what, got, want))
	}
	differ := func(what string, got, want any) {
		if got != want {
			bad(what, got, want)
		}
	}
	differ("size", r.Size, m.Size)
	if r.SHA256 != "" {
		differ("sha256", r.SHA256, m.SHA256)
	}
	// A damaged zstd stream leaves no database to measure.
	if r.DBSHA256 != "" {
		differ("dbSize", r.DBSize, m.DBSize)
		differ("dbSha256", r.DBSHA256, m.DBSHA256)
	}
	compression := ""
	if r.Compressed {
		compression = "zstd"
	}
	differ("compression", compression, m.Compression)
	if n, ok := ParseName(filepath.Base(r.File)); ok {
		differ("the name's revision", n.Revision, m.Revision)
		differ("the name's cluster ID", n.ClusterID, m.ClusterID)
		if !sameInstant(m.Created, n.Created) {
			bad("the name's time", n.Created.Format(time.RFC3339Nano), m.Created.Format(time.RFC3339Nano))
		}
	}
	if read {
		differ("revision", r.Revision, m.Revision)
		differ("totalKeys", r.TotalKeys, m.TotalKeys)
		differ("raftIndex", r.RaftIndex, m.RaftIndex)
		differ("storageVersion", r.Version, m.StorageVersion)
		// Both are left out by some writers (save leaves out the crc, an
		// old etcd's database the term): compared where recorded.
		if m.Hash != 0 {
			differ("hash", fmt.Sprintf("%08x", r.Hash), fmt.Sprintf("%08x", m.Hash))
		}
		if r.RaftTerm != 0 {
			differ("raftTerm", r.RaftTerm, m.RaftTerm)
		}
	}
	if len(r.Problems) > before {
		return "mismatch"
	}
	return "ok"
}

func oneLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

// IsNotExist reports a missing input file.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
