package snapshot

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"strconv"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

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
}

// objectMetaSHA256 and friends are the object metadata keys (S3 stores them
// as x-amz-meta-*): the object vouches for itself without its .meta.json.
const (
	objectMetaSHA256   = "etcdmedic-sha256"
	objectMetaSize     = "etcdmedic-size"
	objectMetaRevision = "etcdmedic-revision"
	objectMetaCluster  = "etcdmedic-cluster-id"
)

// SaveRemote streams a snapshot from the chosen member into an upload to a
// temporary key of the destination, through sha256 and, as asked, zstd and
// age. The stream is written once to a local spool as well, which bolt's
// check reads (it needs random access); nothing is held in memory beyond
// the upload's part buffers. Only when the upload completed, its size is
// the size sent and the database passed the check does the object get its
// final name: its .meta.json first, then a server-side copy carrying the
// size and sha256 in the object's metadata, checked once more on the copy.
// A failure leaves nothing under a final name and aborts its own upload;
// a killed run's leftovers are removed by the next run.
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
	r, loc, err := Open(ctx, opts.To)
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

	up, err := r.startUpload(ctx, recipients, opts.Compress)
	if err != nil {
		return nil, err
	}
	streamStart := time.Now()
	dg, err := stream(ctx, c, m, io.MultiWriter(spool, up), opts.SaveOptions)
	if err != nil {
		up.abort()
		return nil, fmt.Errorf("snapshot from %s to %s: %w", m.Label(), r.Display, err)
	}
	integ, dbSHA := dg.finish()
	switch integ {
	case integrityMissing:
		up.abort()
		return nil, fmt.Errorf("snapshot from %s: %d bytes received, no sha256 appended: stream incomplete", m.Label(), dg.n)
	case integrityMismatch:
		up.abort()
		return nil, fmt.Errorf("snapshot from %s: appended sha256 does not match the %d bytes received", m.Label(), dg.n)
	}
	// etcd's hash vouches for the spool (bbolt must never read condemned
	// pages), so bolt's check runs while the upload's last parts go out.
	var dbst dbStatus
	var stErr error
	checked := make(chan struct{})
	go func() { defer close(checked); dbst, stErr = readStatus(spool.Name(), walkStructure) }()
	err = up.finish()
	<-checked
	if err != nil {
		up.abort()
		return nil, fmt.Errorf("snapshot from %s to %s: %w", m.Label(), r.Display, err)
	}
	// From here on every failure must remove the completed temporary object.
	defer up.abort()
	streamTook := time.Since(streamStart)
	c.Log.Info("snapshot streamed and uploaded", "bytes", dg.n, "stored", up.stored.n, "seconds", streamTook.Seconds())
	if stErr != nil {
		return nil, fmt.Errorf("snapshot from %s failed verification: %w", m.Label(), stErr)
	}
	attrs, err := r.Bucket.Attributes(ctx, r.Key(up.name))
	if err != nil {
		return nil, r.classify(fmt.Errorf("check upload %s", r.URLOf(up.name)), err)
	}
	if attrs.Size != up.stored.n {
		return nil, fmt.Errorf("upload %s holds %d bytes, %d were sent", r.URLOf(up.name), attrs.Size, up.stored.n)
	}

	created := opts.Now().UTC().Truncate(time.Millisecond)
	meta := &Metadata{
		ClusterID: cluster.FormatID(ms.ClusterID), MemberID: m.IDString(), MemberName: m.Name, Created: created,
		EtcdVersion: st.GetVersion(), StorageVersion: dbst.Version,
		Revision: dbst.Revision, RaftIndex: dbst.ConsistentIndex, RaftTerm: dbst.Term,
		Size: up.stored.n, SHA256: up.stored.sumOr(dbSHA), DBSize: dg.n, DBSHA256: dbSHA,
		TotalKeys: dbst.TotalKey, Verified: true, Tool: toolVersion(),
	}
	if meta.RaftTerm == 0 {
		meta.RaftTerm = st.GetRaftTerm()
	}
	if opts.Compress {
		meta.Compression = "zstd"
	}
	if len(recipients) > 0 {
		meta.Encrypted, meta.Recipients = true, append([]string(nil), opts.EncryptTo...)
		meta.PlainSize, meta.PlainSHA256 = up.plain.n, up.plain.sum()
	}
	meta.HashKV = sourceHashKV(ctx, c, m, dbst.Revision)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name, err := r.publish(ctx, up.name, meta, func(at time.Time) string {
		n := FileName(ms.ClusterID, dbst.Revision, at, opts.Compress)
		if meta.Encrypted {
			n += extAge
		}
		return n
	}, created)
	if err != nil {
		return nil, err
	}
	up.published = true
	up.done(ctx)
	if err := r.Bucket.Delete(ctx, r.Key(up.name)); err != nil {
		c.Log.Warn("temporary upload not removed (the next run removes it)", "key", up.name, "error", redact(err.Error()))
	}

	if opts.KeepLocal != "" {
		lm := *meta
		lm.Size, lm.SHA256, lm.Compression = dg.n, dbSHA, ""
		lm.Encrypted, lm.Recipients, lm.PlainSize, lm.PlainSHA256 = false, nil, 0, ""
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

// publish gives the uploaded object its final name, never replacing one:
// a generated name that is taken moves on by a millisecond (as locally).
// The metadata goes first, written only if absent, so an object under a
// final name always has it; then the server-side copy.
func (r *Remote) publish(ctx context.Context, tmp string, meta *Metadata, name func(time.Time) string, at time.Time) (string, error) {
	for i := 0; i < maxNameTries; i++ {
		t := at.Add(time.Duration(i) * time.Millisecond)
		n := name(t)
		meta.Created, meta.File = t, n
		if ok, err := r.Bucket.Exists(ctx, r.Key(n)); err != nil {
			return "", r.classify(fmt.Errorf("check %s", r.URLOf(n)), err)
		} else if ok {
			continue
		}
		b, err := json.MarshalIndent(meta, "", "  ")
		if err != nil {
			return "", err
		}
		err = r.Bucket.WriteAll(ctx, r.Key(n+MetaSuffix), append(b, '\n'), &blob.WriterOptions{ContentType: "application/json", IfNotExist: true})
		if gcerrors.Code(err) == gcerrors.FailedPrecondition {
			continue
		}
		if err != nil {
			return "", r.classify(fmt.Errorf("write %s", r.URLOf(n+MetaSuffix)), err)
		}
		if err := r.copyFinal(ctx, tmp, n, meta); err != nil {
			r.Bucket.Delete(context.WithoutCancel(ctx), r.Key(n+MetaSuffix))
			return "", err
		}
		return n, nil
	}
	return "", fmt.Errorf("%w: no free name at %s", ErrTargetExists, r.Display)
}

// copyFinal copies the upload to its final name and checks the copy.
func (r *Remote) copyFinal(ctx context.Context, tmp, final string, meta *Metadata) error {
	om := map[string]string{
		objectMetaSHA256: meta.SHA256, objectMetaSize: strconv.FormatInt(meta.Size, 10),
		objectMetaRevision: strconv.FormatInt(meta.Revision, 10), objectMetaCluster: meta.ClusterID,
	}
	err := r.Bucket.Copy(ctx, r.Key(final), r.Key(tmp), &blob.CopyOptions{BeforeCopy: func(as func(any) bool) error {
		return setCopyMetadata(as, om)
	}})
	if err != nil {
		return r.classify(fmt.Errorf("copy to %s", r.URLOf(final)), err)
	}
	a, err := r.Bucket.Attributes(ctx, r.Key(final))
	if err != nil {
		return r.classify(fmt.Errorf("check %s", r.URLOf(final)), err)
	}
	bad := a.Size != meta.Size
	if r.S3() != nil && a.Metadata[objectMetaSHA256] != meta.SHA256 {
		bad = true
	}
	if bad {
		r.Bucket.Delete(context.WithoutCancel(ctx), r.Key(final))
		return fmt.Errorf("%s after the copy: size %d, sha256 %q; expected %d, %s", r.URLOf(final), a.Size, a.Metadata[objectMetaSHA256], meta.Size, meta.SHA256)
	}
	return nil
}

// upload is one streaming upload to a temporary key: what is written goes
// through zstd (optional) and age (optional) into the blob writer, hashed
// and counted before and after encryption.
type upload struct {
	r         *Remote
	name      string
	cancel    context.CancelFunc
	bw        *blob.Writer
	top       io.Writer
	closers   []io.Closer
	stored    *hashCounter // what the object holds
	plain     *hashCounter // the stored form before encryption
	closed    bool
	published bool
	async     *asyncWriter
}

func (r *Remote) startUpload(ctx context.Context, recipients []age.Recipient, compress bool) (*upload, error) {
	host, _ := os.Hostname()
	var rb [8]byte
	rand.Read(rb[:])
	u := &upload{r: r, name: fmt.Sprintf("%sp%d-%s-%s.part", uploadDir, os.Getpid(), hex.EncodeToString(rb[:]), host)}
	if err := r.Bucket.WriteAll(ctx, r.Key(u.name+intentSuffix), []byte(u.name+"\n"), &blob.WriterOptions{ContentType: "text/plain"}); err != nil {
		return nil, r.classify(fmt.Errorf("start upload to %s", r.Display), err)
	}
	uctx, cancel := context.WithCancel(ctx)
	u.cancel = cancel
	// Two parts of S3's minimum 5 MiB in flight: against loopback MinIO,
	// 8 MiB parts streamed 20% faster but peaked 35 MiB higher (156 vs 121).
	bw, err := r.Bucket.NewWriter(uctx, r.Key(u.name), &blob.WriterOptions{ContentType: "application/octet-stream",
		BufferSize: 5 << 20, MaxConcurrency: 2})
	if err != nil {
		cancel()
		return nil, r.classify(fmt.Errorf("start upload to %s", r.Display), err)
	}
	u.bw = bw
	u.stored = newHashCounter(bw)
	// Stored as streamed, the object's sha256 is the database's, which the
	// stream's digest computes already: one hash pass less per byte.
	u.stored.noHash = len(recipients) == 0 && !compress
	u.top = u.stored
	u.plain = u.stored
	if len(recipients) > 0 {
		aw, err := age.Encrypt(u.stored, recipients...)
		if err != nil {
			u.abort()
			return nil, fmt.Errorf("encrypt: %w", err)
		}
		u.plain = newHashCounter(aw)
		u.top = u.plain
		u.closers = append(u.closers, aw)
	}
	if compress {
		zw, err := zstd.NewWriter(u.top)
		if err != nil {
			u.abort()
			return nil, err
		}
		u.top = zw
		u.closers = append([]io.Closer{zw}, u.closers...)
	}
	u.async = newAsyncWriter(u.top, asyncChunks)
	return u, nil
}

func (u *upload) Write(p []byte) (int, error) { return u.async.Write(p) }

// finish flushes zstd and age and completes the upload.
func (u *upload) finish() error {
	if err := u.async.Close(); err != nil {
		return err
	}
	for _, c := range u.closers {
		if err := c.Close(); err != nil {
			return err
		}
	}
	u.closed = true
	// The destination answered when it was opened: an upload that fails
	// now is a failed save (exit 2), not an unreachable destination.
	if err := u.bw.Close(); err != nil {
		return fault.Mark(fmt.Errorf("upload: %s", redact(oneLine(err.Error()))), fault.Failed)
	}
	return nil
}

// abort cancels the upload if still open and removes what it left: the
// SDK's own abort of a multipart upload reuses the cancelled context and
// fails, so the leftover is aborted here with a fresh one.
func (u *upload) abort() {
	u.cancel()
	if u.published {
		return
	}
	u.published = true // once
	if u.async != nil {
		u.async.Close()
	}
	if !u.closed {
		u.bw.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u.r.abortMultipart(ctx, u.r.Key(u.name))
	u.r.Bucket.Delete(ctx, u.r.Key(u.name))
	// The intent stays when the abort could not be confirmed (the server
	// is gone): the next run aborts by it.
	if u.r.uploadGone(ctx, u.r.Key(u.name)) {
		u.r.Bucket.Delete(ctx, u.r.Key(u.name+intentSuffix))
	}
}

// done removes the intent of a published upload.
func (u *upload) done(ctx context.Context) {
	u.r.Bucket.Delete(ctx, u.r.Key(u.name+intentSuffix))
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
