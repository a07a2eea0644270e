package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/atomicfile"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// RemoteSaveOptions configure a save to a destination URL.
type RemoteSaveOptions struct {
	SaveOptions
	// To is the destination URL (s3://, gs://, azblob://, file://).
	To string
	// KeepLocal, when set, keeps the database as a local snapshot (with
	// its metadata) in this directory too.
	KeepLocal string
	// EncryptTo are age X25519 recipients (age1...).
	EncryptTo []string
	// SpoolDir holds the one local copy bolt's check reads (default: the
	// OS temp dir); with KeepLocal that copy is the kept one.
	SpoolDir string
	// Bundle stores the node's manifests (and, encrypted, PKI) beside it.
	Bundle BundleOptions
}

// RemoteSaveResult is a SaveResult for an object: Path is its URL.
type RemoteSaveResult struct {
	SaveResult
	// KeptLocal is the local snapshot --keep-local kept.
	KeptLocal string `json:"keptLocal,omitempty"`
	// AbortedUploads are uploads of earlier killed runs removed from the
	// destination (incomplete multipart uploads and temporary objects).
	AbortedUploads []string `json:"abortedUploads"`
	// Bundle lists the node bundle's parts stored beside the snapshot.
	Bundle []BundlePart `json:"bundle,omitempty"`
	// Upload says how the object got its final name: UploadStreamed,
	// UploadFromSpool or UploadCopied.
	Upload string `json:"upload"`
}

// objectMetaRevision and objectMetaCluster are the object metadata keys (S3
// stores them as x-amz-meta-*), set when the upload starts. The object's
// sha256 is S3's own x-amz-checksum-sha256, which the server checks on
// every part and keeps with the object: for a multipart upload it is the
// composite (the sha256 of the parts' sha256s, "-N"); the .meta.json
// records it (objectChecksumSha256, with partSize) beside the sha256 of
// the whole object. Metadata cannot be changed once the upload started
// without a copy, and the whole object's sha256 is known only at its end.
const (
	objectMetaRevision = "etcdmedic-revision"
	objectMetaCluster  = "etcdmedic-cluster-id"
)

// How an object got its final name (RemoteSaveResult.Upload).
const (
	// UploadStreamed: streamed into a multipart upload to the final key,
	// completed after the checks (S3, when the name was known up front).
	UploadStreamed = "streamed"
	// UploadFromSpool: the snapshot's revision was not known when the
	// stream began (the member took writes meanwhile), so the checked local
	// spool was uploaded to the final key afterwards (S3).
	UploadFromSpool = "from-spool"
	// UploadCopied: uploaded to a temporary key while streaming, then
	// copied to the final name (destinations other than S3).
	UploadCopied = "copied"
)

// SaveRemote streams a snapshot from the chosen member through sha256 and,
// as asked, zstd and age into the destination, and once to a local spool,
// which bolt's check reads (it needs random access). Nothing is held in
// memory beyond the upload's part buffers.
//
// On S3 the final name is known when the stream begins if the member's
// revision is the same just before the snapshot and just after its first
// bytes: the snapshot then holds exactly that revision, and the stream goes
// straight into a multipart upload to the final key. It is completed (the
// object appears) only after etcd's appended sha256 matched, bolt's check
// passed, the revision is the one in the name, the server listed every part
// with the size and sha256 sent, and the .meta.json was written; anything
// else aborts it. When the revision moved, the spool is uploaded to the
// right name after the check, the same way. Other destinations get a
// temporary key during the stream and a server-side copy to the final name.
// A killed run's leftovers are removed by the next run.
func SaveRemote(ctx context.Context, c *cluster.Cluster, opts RemoteSaveOptions) (*RemoteSaveResult, error) {
	start := time.Now()
	if opts.Now == nil {
		opts.Now = time.Now
	}
	recipients, err := ParseRecipients(opts.EncryptTo)
	if err != nil {
		return nil, err
	}
	if err := CheckBundle(opts.Bundle, len(recipients) > 0); err != nil {
		return nil, err
	}
	loc, err := ParseRemote(opts.To)
	if err != nil {
		return nil, err
	}
	// The stream from etcd and the upload it feeds stall together: one bound.
	loc.IdleTimeout = opts.StallTimeout
	r, err := OpenRemote(ctx, loc)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if loc.Name != "" {
		return nil, fault.Mark(fmt.Errorf("--to %s names a snapshot: give the destination (names are generated)", r.URLOf(loc.Name)), fault.Invalid)
	}
	res := &RemoteSaveResult{}
	res.CleanedUp = []string{}
	if res.AbortedUploads, err = r.CleanupUploads(ctx, opts.Now()); err != nil {
		return nil, err
	}
	spoolDir := opts.SpoolDir
	if opts.KeepLocal != "" {
		spoolDir = opts.KeepLocal
	}
	// A killed run's spool is a whole database in the temp dir: removed
	// (only unlocked files of this tool's temporary pattern are touched).
	cleanDir := spoolDir
	if cleanDir == "" {
		cleanDir = os.TempDir()
	}
	if res.CleanedUp, err = CleanupTemps(cleanDir); err != nil {
		return nil, fmt.Errorf("clean up %s: %w", cleanDir, err)
	}

	src, ms, err := pickSource(ctx, c, opts.From, opts.MaxLag, &res.SaveResult)
	if err != nil {
		return nil, err
	}
	m, st := src.Status.Member, src.Status.Status

	spool, err := createTemp(spoolDir, extDB)
	if err != nil {
		return nil, fmt.Errorf("snapshot: spool: %w", err)
	}
	kept := false
	defer func() {
		if !kept {
			spool.discard()
		}
	}()

	ps := uploadSpec{recipients: recipients, compress: opts.Compress, partSize: partSizeFor(st.GetDbSize() + st.GetDbSize()/64)}
	nameAt := func(rev int64, at time.Time) string {
		n := FileName(ms.ClusterID, rev, at, opts.Compress)
		if len(recipients) > 0 {
			n += extAge
		}
		return n
	}
	ps.md = func(rev int64) map[string]string {
		return map[string]string{objectMetaRevision: strconv.FormatInt(rev, 10), objectMetaCluster: cluster.FormatID(ms.ClusterID)}
	}

	var up *upload
	var guess int64
	var guessedAt time.Time
	w := io.Writer(spool)
	if r.S3() != nil {
		// The revision just before the snapshot and, in the first write,
		// just after its first bytes: equal, the snapshot holds exactly it.
		r0 := memberRevision(ctx, c, m)
		w = &firstWrite{w: spool, first: func() (io.Writer, error) {
			if r0 == 0 || memberRevision(ctx, c, m) != r0 {
				c.Log.Info("the member's revision moved as the snapshot began: the spool is uploaded after the check")
				return nil, nil
			}
			n, at, err := r.freeName(ctx, func(t time.Time) string { return nameAt(r0, t) }, opts.Now().UTC().Truncate(time.Millisecond))
			if err != nil {
				return nil, err
			}
			if up, err = r.startUpload(ctx, n, true, ps, r0, spool.File); err != nil {
				return nil, err
			}
			guess, guessedAt = r0, at
			return up, nil
		}}
	} else {
		if up, err = r.startUpload(ctx, "", false, ps, 0, nil); err != nil {
			return nil, err
		}
		w = &firstWrite{w: spool, first: func() (io.Writer, error) { return up, nil }}
	}
	abort := func() {
		if up != nil {
			up.abort()
		}
	}
	streamStart := time.Now()
	dg, err := stream(ctx, c, m, w, opts.SaveOptions)
	if err != nil {
		abort()
		return nil, fmt.Errorf("snapshot from %s to %s: %w", m.Label(), r.Display, err)
	}
	integ, dbSHA := dg.finish()
	switch integ {
	case integrityMissing:
		abort()
		return nil, fmt.Errorf("snapshot from %s: %d bytes received, no sha256 appended: stream incomplete", m.Label(), dg.n)
	case integrityMismatch:
		abort()
		return nil, fmt.Errorf("snapshot from %s: appended sha256 does not match the %d bytes received", m.Label(), dg.n)
	}
	// etcd's hash vouches for the spool (bbolt must never read condemned
	// pages), so bolt's check runs while the upload's last parts go out.
	var dbst dbStatus
	var stErr error
	checked := make(chan struct{})
	go func() { defer close(checked); dbst, stErr = readStatus(spool.Name(), walkStructure) }()
	// The source's HashKV at the revision the name was chosen by, asked
	// meanwhile too (it reads the member's whole keyspace): used only if
	// the check reads that revision.
	var guessHashKV uint32
	hashed := make(chan struct{})
	if up != nil && up.direct {
		go func() { defer close(hashed); guessHashKV = sourceHashKV(ctx, c, m, guess) }()
	} else {
		close(hashed)
	}
	if up != nil {
		err = up.finish()
	}
	<-checked
	<-hashed
	if err != nil {
		abort()
		return nil, fmt.Errorf("snapshot from %s to %s: %w", m.Label(), r.Display, err)
	}
	// From here on every failure must remove what the upload left.
	defer abort()
	if stErr != nil {
		return nil, fmt.Errorf("snapshot from %s failed verification: %w", m.Label(), stErr)
	}
	res.Upload = UploadCopied
	if up != nil && up.direct {
		res.Upload = UploadStreamed
		if dbst.Revision != guess {
			// Possible only when a compaction removed the newest revision
			// (a tombstone): the name would say another revision.
			c.Log.Info("the snapshot's revision is not the one its name was chosen by: uploading the spool again", "name", guess, "snapshot", dbst.Revision)
			up.abort()
			up = nil
		}
	}
	meta := &Metadata{
		ClusterID: cluster.FormatID(ms.ClusterID), MemberID: m.IDString(), MemberName: m.Name,
		EtcdVersion: st.GetVersion(), StorageVersion: dbst.Version,
		Revision: dbst.Revision, RaftIndex: dbst.ConsistentIndex, RaftTerm: dbst.Term,
		DBSize: dg.n, DBSHA256: dbSHA, TotalKeys: dbst.TotalKey, Verified: true, Tool: toolVersion(),
	}
	if meta.RaftTerm == 0 {
		meta.RaftTerm = st.GetRaftTerm()
	}
	if opts.Compress {
		meta.Compression = "zstd"
	}
	if len(recipients) > 0 {
		meta.Encrypted, meta.Recipients = true, append([]string(nil), opts.EncryptTo...)
	}
	if up != nil && up.direct {
		meta.HashKV = guessHashKV
	} else {
		meta.HashKV = sourceHashKV(ctx, c, m, dbst.Revision)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	streamTook := time.Since(streamStart)

	var name string
	for attempt := 0; ; attempt++ {
		if up == nil {
			// The name goes by the revision the check read; the spool
			// (proven by etcd's hash and bolt's check) is uploaded to it.
			res.Upload = UploadFromSpool
			n, at, err := r.freeName(ctx, func(t time.Time) string { return nameAt(dbst.Revision, t) }, opts.Now().UTC().Truncate(time.Millisecond))
			if err != nil {
				return nil, err
			}
			if up, err = r.uploadFile(ctx, spool.Name(), n, ps, dbst.Revision); err != nil {
				return nil, fmt.Errorf("upload to %s: %w", r.Display, err)
			}
			guessedAt = at
		}
		up.describe(meta, dbSHA)
		if up.direct {
			meta.Created = guessedAt
			err = r.complete(ctx, up, meta)
			if errors.Is(err, errNameTaken) && attempt == 0 {
				// Another save took the name since it was chosen.
				up.abort()
				up = nil
				continue
			}
			name = up.name
		} else {
			name, err = r.publish(ctx, up.name, meta, func(at time.Time) string { return nameAt(dbst.Revision, at) }, opts.Now().UTC().Truncate(time.Millisecond))
		}
		if err != nil {
			return nil, err
		}
		break
	}
	up.published = true
	up.done(ctx)
	if !up.direct {
		if err := r.Bucket.Delete(ctx, r.Key(up.name)); err != nil {
			c.Log.Warn("temporary upload not removed (the next run removes it)", "key", up.name, "error", redact(err.Error()))
		}
	}
	c.Log.Info("snapshot uploaded", "bytes", dg.n, "stored", meta.Size, "how", res.Upload, "seconds", time.Since(streamStart).Seconds())

	if opts.KeepLocal != "" {
		lm := *meta
		lm.Size, lm.SHA256, lm.Compression = dg.n, dbSHA, ""
		lm.Encrypted, lm.Recipients, lm.PlainSize, lm.PlainSHA256 = false, nil, 0, ""
		lm.ObjectChecksumSHA256, lm.PartSize = "", 0
		if err := spool.Sync(); err != nil {
			return nil, fmt.Errorf("keep-local: fsync: %w", err)
		}
		path, err := publish(spool, &lm, "", opts.KeepLocal, func(at time.Time) string { return FileName(ms.ClusterID, dbst.Revision, at, false) }, meta.Created)
		if err != nil {
			return nil, fmt.Errorf("keep-local: %w", err)
		}
		spool.Close()
		os.Remove(spool.Name())
		kept = true
		if err := atomicfile.SyncDir(opts.KeepLocal); err != nil {
			return nil, fmt.Errorf("keep-local: %w", err)
		}
		res.KeptLocal = path
	}
	res.Path, res.Metadata = r.URLOf(name), meta
	res.StreamSeconds = streamTook.Seconds()
	if res.StreamSeconds > 0 {
		res.BytesPerSecond = float64(dg.n) / res.StreamSeconds
	}
	res.Bundle, err = r.uploadBundle(ctx, name, opts.Bundle, recipients)
	res.DurationSeconds = time.Since(start).Seconds()
	if err != nil {
		// The snapshot is saved and good; the node bundle beside it is not.
		return res, fault.Mark(fmt.Errorf("node bundle: %w", err), fault.Partial)
	}
	return res, nil
}

// firstWrite passes writes to w and, from the first one on, also to the
// writer first returns (none when it returns nil).
type firstWrite struct {
	w     io.Writer
	first func() (io.Writer, error)
	also  io.Writer
	began bool
}

func (f *firstWrite) Write(p []byte) (int, error) {
	if err := f.begin(); err != nil {
		return 0, err
	}
	n, err := f.w.Write(p)
	if err != nil || f.also == nil {
		return n, err
	}
	return f.also.Write(p)
}

// writeChunk is Write for a chunk the second writer may keep.
func (f *firstWrite) writeChunk(c *snapshotChunk) error {
	if err := f.begin(); err != nil {
		return err
	}
	if _, err := f.w.Write(c.blob); err != nil || f.also == nil {
		return err
	}
	return writeChunk(f.also, c)
}

func (f *firstWrite) begin() error {
	if f.began {
		return nil
	}
	f.began = true
	var err error
	f.also, err = f.first()
	return err
}

// memberRevision is the member's own current revision (a serializable
// read: the revision it applied, which its backend holds); 0 when unknown.
func memberRevision(ctx context.Context, c *cluster.Cluster, m cluster.Member) int64 {
	dctx, cancel := c.WithCommandTimeout(ctx)
	defer cancel()
	cli, err := c.Client(dctx, m.Endpoint)
	if err != nil {
		return 0
	}
	resp, err := cli.Get(dctx, "\x00", clientv3.WithSerializable(), clientv3.WithCountOnly())
	if err != nil {
		return 0
	}
	return resp.Header.Revision
}

// hashCounter passes writes on, hashing and counting them.
type hashCounter struct {
	w      io.Writer
	h      hash.Hash
	n      int64
	noHash bool // count only: the same bytes are hashed elsewhere
}

func newHashCounter(w io.Writer) *hashCounter { return &hashCounter{w: w, h: sha256.New()} }

func (c *hashCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if !c.noHash {
		c.h.Write(p[:n])
	}
	c.n += int64(n)
	return n, err
}

func (c *hashCounter) sum() string { return hex.EncodeToString(c.h.Sum(nil)) }

// sumOr is the sum, or same when this counter only counted.
func (c *hashCounter) sumOr(same string) string {
	if c.noHash {
		return same
	}
	return c.sum()
}

// sourceHashKV asks the source member for its HashKV at the snapshot's
// revision, for drills to compare with; 0 when it cannot say (compacted,
// or an error: the snapshot is good without it).
func sourceHashKV(ctx context.Context, c *cluster.Cluster, m cluster.Member, rev int64) uint32 {
	dctx, cancel := c.WithCommandTimeout(ctx)
	defer cancel()
	cli, err := c.Client(dctx, m.Endpoint)
	if err != nil {
		return 0
	}
	resp, err := cli.HashKV(dctx, m.Endpoint, rev)
	if err != nil {
		c.Log.Info("no HashKV from the source", "error", err)
		return 0
	}
	return resp.Hash
}
