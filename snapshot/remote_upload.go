package snapshot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"filippo.io/age"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/zstd"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// uploadSpec is what every upload of one save shares.
type uploadSpec struct {
	recipients []age.Recipient
	compress   bool
	partSize   int
	// md is the object metadata for a snapshot of this revision.
	md func(rev int64) map[string]string
}

// upload is one streaming upload: what is written goes through zstd
// (optional) and age (optional) into a multipart upload to the final key
// (direct, S3) or a blob writer to a temporary key (other destinations),
// hashed and counted before and after encryption.
type upload struct {
	r *Remote
	// name is the key under the prefix: the final name (direct) or the
	// temporary one.
	name   string
	intent string
	direct bool
	mp     *s3Multipart
	cancel context.CancelFunc
	bw     *blob.Writer

	top       io.Writer
	closers   []io.Closer
	stored    *hashCounter // what the object holds
	plain     *hashCounter // the stored form before encryption
	closed    bool
	published bool
	async     *asyncWriter
}

// startUpload writes the upload's intent (the key it uploads to: the next
// run aborts by it if this one is killed) and starts the upload; direct
// uploads go to name, the others to a temporary key of their own.
//
// src, for a direct upload, is a file that holds every byte written to the
// upload at the offset it is written (the spool): stored as streamed
// (neither compressed nor encrypted), the parts are read back from it.
func (r *Remote) startUpload(ctx context.Context, name string, direct bool, ps uploadSpec, rev int64, src io.ReaderAt) (*upload, error) {
	host, _ := os.Hostname()
	var rb [8]byte
	rand.Read(rb[:])
	id := fmt.Sprintf("p%d-%s-%s.part", os.Getpid(), hex.EncodeToString(rb[:]), host)
	u := &upload{r: r, name: name, direct: direct, intent: uploadDir + id + intentSuffix}
	if !direct {
		u.name = uploadDir + id
	}
	if err := r.Bucket.WriteAll(ctx, r.Key(u.intent), []byte(u.name+"\n"), &blob.WriterOptions{ContentType: "text/plain"}); err != nil {
		return nil, r.classify(fmt.Errorf("start upload to %s", r.Display), err)
	}
	var bottom io.Writer
	if direct {
		if ps.compress || len(ps.recipients) > 0 {
			src = nil
		}
		mp, err := startS3Multipart(ctx, r.S3(), r.bucketName(), r.Key(name), ps.partSize, ps.md(rev), src)
		if err != nil {
			r.Bucket.Delete(context.WithoutCancel(ctx), r.Key(u.intent))
			return nil, r.classify(fmt.Errorf("start upload to %s", r.URLOf(name)), err)
		}
		u.mp, u.cancel, bottom = mp, mp.cancel, mp
	} else {
		uctx, cancel := context.WithCancel(ctx)
		u.cancel = cancel
		bw, err := r.Bucket.NewWriter(uctx, r.Key(u.name), &blob.WriterOptions{ContentType: "application/octet-stream",
			BufferSize: 5 << 20, MaxConcurrency: 2})
		if err != nil {
			cancel()
			r.Bucket.Delete(context.WithoutCancel(ctx), r.Key(u.intent))
			return nil, r.classify(fmt.Errorf("start upload to %s", r.Display), err)
		}
		u.bw, bottom = bw, bw
	}
	u.stored = newHashCounter(bottom)
	// Stored as streamed, the object's sha256 is the database's, which the
	// stream's digest computes already: one hash pass less per byte.
	u.stored.noHash = len(ps.recipients) == 0 && !ps.compress
	u.top = u.stored
	u.plain = u.stored
	if len(ps.recipients) > 0 {
		aw, err := age.Encrypt(u.stored, ps.recipients...)
		if err != nil {
			u.abort()
			return nil, fmt.Errorf("encrypt: %w", err)
		}
		u.plain = newHashCounter(aw)
		u.top = u.plain
		u.closers = append(u.closers, aw)
	}
	if ps.compress {
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

// uploadFile uploads a local database file (the checked spool) directly to
// the final key name, through the same compression and encryption.
func (r *Remote) uploadFile(ctx context.Context, path, name string, ps uploadSpec, rev int64) (*upload, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	u, err := r.startUpload(ctx, name, true, ps, rev, f)
	if err != nil {
		return nil, err
	}
	if u.mp.src != nil {
		// The parts are the file's: nothing passes through the pipeline.
		fi, err := f.Stat()
		if err == nil {
			err = u.mp.advance(fi.Size())
		}
		if err != nil {
			u.abort()
			return nil, err
		}
		u.stored.n = fi.Size()
	}
	// Fresh buffers: the async writer keeps what it was handed.
	for u.mp.src == nil {
		b := make([]byte, 1<<20)
		n, rerr := io.ReadFull(ctxReader{ctx, f}, b)
		if n > 0 {
			if _, err := u.Write(b[:n]); err != nil {
				u.abort()
				return nil, err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			u.abort()
			return nil, rerr
		}
	}
	if err := u.finish(); err != nil {
		u.abort()
		return nil, err
	}
	return u, nil
}

func (u *upload) Write(p []byte) (int, error) { return u.async.Write(p) }

func (u *upload) writeChunk(c *snapshotChunk) error { return u.async.writeChunk(c) }

// finish flushes zstd and age and sends the last bytes: a direct upload
// then waits for completion (complete); another is complete under its
// temporary key.
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
	var err error
	if u.direct {
		err = u.mp.flush()
	} else {
		err = u.bw.Close()
	}
	// The destination answered when it was opened: an upload that fails
	// now is a failed save (exit 2), not an unreachable destination.
	if err != nil {
		return fault.Mark(fmt.Errorf("upload: %s", redact(oneLine(err.Error()))), fault.Failed)
	}
	return nil
}

// describe fills in what the object is: size and sha256 as stored, and
// what the server's checksum will be.
func (u *upload) describe(meta *Metadata, dbSHA string) {
	meta.Size, meta.SHA256 = u.stored.n, u.stored.sumOr(dbSHA)
	if meta.Encrypted {
		meta.PlainSize, meta.PlainSHA256 = u.plain.n, u.plain.sum()
	}
	meta.ObjectChecksumSHA256, meta.PartSize = "", 0
	if u.direct {
		meta.ObjectChecksumSHA256, meta.PartSize = u.mp.composite(), int64(u.mp.partSize)
	}
}

// abort cancels the upload if still open and removes what it left: the
// multipart upload (with a fresh context: the SDK's own abort reuses a
// cancelled one), a temporary object, and the intent once the server
// confirms nothing is left.
func (u *upload) abort() {
	if u.cancel != nil {
		u.cancel()
	}
	if u.published {
		return
	}
	u.published = true // once
	if u.async != nil {
		u.async.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	gone := true
	if u.direct {
		gone = u.mp.abort() == nil
	} else {
		if !u.closed {
			u.bw.Close()
		}
		u.r.abortMultipart(ctx, u.r.Key(u.name))
		u.r.Bucket.Delete(ctx, u.r.Key(u.name))
		gone = u.r.uploadGone(ctx, u.r.Key(u.name))
	}
	// The intent stays when the abort could not be confirmed (the server
	// is gone): the next run aborts by it.
	if gone {
		u.r.Bucket.Delete(ctx, u.r.Key(u.intent))
	}
}

// done removes the intent of a published upload.
func (u *upload) done(ctx context.Context) {
	u.r.Bucket.Delete(ctx, u.r.Key(u.intent))
}

// errNameTaken: the .meta.json of the chosen name exists (another save
// took it since it was chosen).
var errNameTaken = errors.New("the name was taken")

// freeName is the first generated name from at on, a millisecond apart,
// under which neither an object nor a .meta.json exists.
func (r *Remote) freeName(ctx context.Context, name func(time.Time) string, at time.Time) (string, time.Time, error) {
	for i := 0; i < maxNameTries; i++ {
		t := at.Add(time.Duration(i) * time.Millisecond)
		n := name(t)
		taken := false
		for _, k := range []string{n, n + MetaSuffix} {
			ok, err := r.Bucket.Exists(ctx, r.Key(k))
			if err != nil {
				return "", t, r.classify(fmt.Errorf("check %s", r.URLOf(k)), err)
			}
			taken = taken || ok
		}
		if !taken {
			return n, t, nil
		}
	}
	return "", at, fmt.Errorf("%w: no free name at %s", ErrTargetExists, r.Display)
}

// complete makes a direct upload appear under its final name: the server
// must list every part with the size and sha256 sent, the .meta.json is
// written (only if absent: it claims the name), and then the upload is
// completed (only if no object is there). The object's size and checksum
// are read back once more; a mismatch removes both.
func (r *Remote) complete(ctx context.Context, u *upload, meta *Metadata) error {
	meta.File = u.name
	if err := u.mp.check(ctx); err != nil {
		return fault.Mark(fmt.Errorf("upload to %s: %s", r.URLOf(u.name), redact(oneLine(err.Error()))), fault.Failed)
	}
	b, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	err = r.Bucket.WriteAll(ctx, r.Key(u.name+MetaSuffix), append(b, '\n'), &blob.WriterOptions{ContentType: "application/json", IfNotExist: true})
	if gcerrors.Code(err) == gcerrors.FailedPrecondition {
		return errNameTaken
	}
	if err != nil {
		return r.classify(fmt.Errorf("write %s", r.URLOf(u.name+MetaSuffix)), err)
	}
	undo := func() { r.Bucket.Delete(context.WithoutCancel(ctx), r.Key(u.name+MetaSuffix)) }
	sum, err := u.mp.complete(ctx)
	if err != nil {
		undo()
		return fault.Mark(fmt.Errorf("complete the upload to %s: %s", r.URLOf(u.name), redact(oneLine(err.Error()))), fault.Failed)
	}
	u.published = true // the upload is gone: nothing to abort
	out, err := r.S3().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(r.bucketName()), Key: aws.String(r.Key(u.name)),
		ChecksumMode: "ENABLED"})
	bad := ""
	switch {
	case err != nil:
		bad = "cannot be read back: " + redact(oneLine(err.Error()))
	case aws.ToInt64(out.ContentLength) != meta.Size:
		bad = fmt.Sprintf("holds %d bytes, %d were sent", aws.ToInt64(out.ContentLength), meta.Size)
	case sum != "" && sum != meta.ObjectChecksumSHA256:
		bad = fmt.Sprintf("has checksum %s, the parts sent make %s", sum, meta.ObjectChecksumSHA256)
	case out.ChecksumSHA256 != nil && aws.ToString(out.ChecksumSHA256) != meta.ObjectChecksumSHA256:
		bad = fmt.Sprintf("has checksum %s, the parts sent make %s", aws.ToString(out.ChecksumSHA256), meta.ObjectChecksumSHA256)
	}
	if bad != "" {
		r.Bucket.Delete(context.WithoutCancel(ctx), r.Key(u.name))
		undo()
		return fault.Mark(fmt.Errorf("%s after completion %s", r.URLOf(u.name), bad), fault.Failed)
	}
	return nil
}

// publish gives an upload under a temporary key its final name, never
// replacing one: a generated name that is taken moves on by a millisecond
// (as locally). The metadata goes first, written only if absent, so an
// object under a final name always has it; then the server-side copy.
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
		if err := r.syncPublished(n, n+MetaSuffix); err != nil {
			r.Bucket.Delete(context.WithoutCancel(ctx), r.Key(n))
			r.Bucket.Delete(context.WithoutCancel(ctx), r.Key(n+MetaSuffix))
			return "", err
		}
		return n, nil
	}
	return "", fmt.Errorf("%w: no free name at %s", ErrTargetExists, r.Display)
}

// copyFinal copies the upload to its final name and checks the copy's size.
func (r *Remote) copyFinal(ctx context.Context, tmp, final string, meta *Metadata) error {
	if err := r.Bucket.Copy(ctx, r.Key(final), r.Key(tmp), nil); err != nil {
		return r.classify(fmt.Errorf("copy to %s", r.URLOf(final)), err)
	}
	a, err := r.Bucket.Attributes(ctx, r.Key(final))
	if err != nil {
		return r.classify(fmt.Errorf("check %s", r.URLOf(final)), err)
	}
	if a.Size != meta.Size {
		r.Bucket.Delete(context.WithoutCancel(ctx), r.Key(final))
		return fmt.Errorf("%s after the copy: size %d; expected %d", r.URLOf(final), a.Size, meta.Size)
	}
	return nil
}
