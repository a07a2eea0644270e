package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Part sizing of the direct S3 upload. Against loopback MinIO on 2 cores, 8
// MiB parts with 3 in flight kept the stream at the member's pace; the
// buffers (in flight + one filling) are what the upload holds in memory.
const (
	s3PartSize    = 8 << 20
	s3Concurrency = 3
	// s3MaxParts is S3's limit; the part size grows for huge databases so
	// that their parts stay well below it.
	s3MaxParts = 10000
)

// partSizeFor is the part size for a stored form of about est bytes.
func partSizeFor(est int64) int {
	size := int64(s3PartSize)
	if need := est / (s3MaxParts * 8 / 10); need > size {
		size = (need + 1<<20 - 1) &^ (1<<20 - 1)
	}
	return int(size)
}

// s3Multipart is one multipart upload straight to a snapshot's final key.
// S3 shows no object under that key until CompleteMultipartUpload, which is
// called only after every check passed; abort leaves nothing behind. Each
// part carries its sha256 (x-amz-checksum-sha256), which the server checks
// on receipt and keeps: the completed object's checksum is the composite
// (the sha256 of the parts' sha256s, "-N"). Since that checksum covers the
// payload, the SigV4 payload hash is not computed a second time.
type s3Multipart struct {
	c           *s3.Client
	bucket, key string
	id          string
	partSize    int

	// src, when set, holds every byte written, at the offset it was
	// written (the spool of an uncompressed, unencrypted save): parts are
	// read back from it (the page cache) instead of buffered in memory.
	src      io.ReaderAt
	pending  int64     // bytes written since the last part (src mode)
	partHash hash.Hash // their sha256, when they were written (not advanced over)
	sem      chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	free   chan []byte // buffers not in flight
	buf    []byte      // the part being filled
	wg     sync.WaitGroup

	mu    sync.Mutex
	parts []types.CompletedPart
	sums  [][]byte
	sizes []int64
	err   error
	n     int64
}

// unsignedPayload: the part's x-amz-checksum-sha256 (a signed header)
// already binds the payload. No "Expect: 100-continue" either (the SDK's
// default above 2 MiB): each part would wait a round trip for the server's
// go-ahead before its body, and a refusal costs no more without it (the
// parts are read back from the spool or a buffer, never from the stream).
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	o.ContinueHeaderThresholdBytes = -1
}

func startS3Multipart(ctx context.Context, c *s3.Client, bucket, key string, partSize int, md map[string]string, src io.ReaderAt) (*s3Multipart, error) {
	out, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Metadata: md,
		ContentType: aws.String("application/octet-stream"), ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		return nil, err
	}
	u := &s3Multipart{c: c, bucket: bucket, key: key, id: aws.ToString(out.UploadId), partSize: partSize,
		free: make(chan []byte, s3Concurrency+1), src: src, sem: make(chan struct{}, s3Concurrency+1)}
	u.ctx, u.cancel = context.WithCancel(ctx)
	for i := 0; i < s3Concurrency+1; i++ {
		u.free <- nil // allocated on first use: a small snapshot needs one
	}
	return u, nil
}

func (u *s3Multipart) failed() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

func (u *s3Multipart) fail(err error) {
	u.mu.Lock()
	if u.err == nil {
		u.err = err
	}
	u.mu.Unlock()
}

func (u *s3Multipart) Write(p []byte) (int, error) {
	if u.src != nil {
		// The bytes pass here once: the part's sha256 is taken from them,
		// and only the upload reads the part back.
		if err := u.failed(); err != nil {
			return 0, err
		}
		n := len(p)
		for len(p) > 0 {
			if u.partHash == nil {
				u.partHash = sha256.New()
			}
			take := min(int64(len(p)), int64(u.partSize)-u.pending)
			u.partHash.Write(p[:take])
			p = p[take:]
			u.pending += take
			if u.pending == int64(u.partSize) {
				u.sendSection(u.pending, u.partHash.Sum(nil))
				u.partHash = nil
			}
		}
		return n, nil
	}
	written := 0
	for len(p) > 0 {
		if err := u.failed(); err != nil {
			return written, err
		}
		if u.buf == nil {
			b := <-u.free
			if b == nil {
				b = make([]byte, 0, u.partSize)
			}
			u.buf = b[:0]
		}
		n := copy(u.buf[len(u.buf):cap(u.buf)], p)
		u.buf = u.buf[:len(u.buf)+n]
		p, written = p[n:], written+n
		if len(u.buf) == cap(u.buf) {
			u.send()
		}
	}
	return written, nil
}

// send uploads the filled buffer as the next part, in the background.
func (u *s3Multipart) send() {
	b := u.buf
	u.buf = nil
	u.mu.Lock()
	num := int32(len(u.parts) + 1)
	u.parts = append(u.parts, types.CompletedPart{PartNumber: aws.Int32(num)})
	u.sums = append(u.sums, nil)
	u.sizes = append(u.sizes, int64(len(b)))
	u.n += int64(len(b))
	u.mu.Unlock()
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer func() { u.free <- b }()
		sum := sha256.Sum256(b)
		u.uploadPart(num, bytes.NewReader(b), int64(len(b)), sum[:])
	}()
}

// advance counts n more bytes of src as written, sending each part it
// completes (src mode).
func (u *s3Multipart) advance(n int64) error {
	if err := u.failed(); err != nil {
		return err
	}
	u.pending += n
	for u.pending >= int64(u.partSize) {
		u.sendSection(int64(u.partSize), nil)
	}
	return nil
}

// sendSection uploads the next size bytes of src as the next part, in the
// background, once fewer than the allowed parts are in flight; sum is its
// sha256 when the bytes were seen, else it is read back for it first.
func (u *s3Multipart) sendSection(size int64, sum []byte) {
	u.pending -= size
	u.sem <- struct{}{}
	u.mu.Lock()
	num := int32(len(u.parts) + 1)
	off := u.n
	u.parts = append(u.parts, types.CompletedPart{PartNumber: aws.Int32(num)})
	u.sums = append(u.sums, nil)
	u.sizes = append(u.sizes, size)
	u.n += size
	u.mu.Unlock()
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer func() { <-u.sem }()
		if sum == nil {
			h := sha256.New()
			if _, err := io.CopyBuffer(h, io.NewSectionReader(u.src, off, size), make([]byte, 256<<10)); err != nil {
				u.fail(fmt.Errorf("read part %d back: %w", num, err))
				u.cancel()
				return
			}
			sum = h.Sum(nil)
		}
		u.uploadPart(num, io.NewSectionReader(u.src, off, size), size, sum)
	}()
}

// uploadPart sends one part with its sha256 and records what the server said.
func (u *s3Multipart) uploadPart(num int32, body io.ReadSeeker, size int64, sum []byte) {
	b64 := base64.StdEncoding.EncodeToString(sum)
	out, err := u.c.UploadPart(u.ctx, &s3.UploadPartInput{
		Bucket: aws.String(u.bucket), Key: aws.String(u.key), UploadId: aws.String(u.id),
		PartNumber: aws.Int32(num), Body: body, ContentLength: aws.Int64(size),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256, ChecksumSHA256: aws.String(b64),
	}, unsignedPayload)
	if err != nil {
		u.fail(fmt.Errorf("upload part %d: %w", num, briefSDKError(err)))
		u.cancel()
		return
	}
	u.mu.Lock()
	u.parts[num-1].ETag, u.parts[num-1].ChecksumSHA256 = out.ETag, aws.String(b64)
	u.sums[num-1] = sum
	u.mu.Unlock()
}

// flush uploads the last part and waits for every part.
func (u *s3Multipart) flush() error {
	if u.src != nil && (u.pending > 0 || len(u.parts) == 0) {
		var sum []byte
		if u.partHash != nil {
			sum = u.partHash.Sum(nil)
		}
		u.sendSection(u.pending, sum)
	}
	if u.src == nil && u.buf != nil && (len(u.buf) > 0 || len(u.parts) == 0) {
		u.send()
	}
	u.wg.Wait()
	return u.failed()
}

// composite is the checksum S3 gives a multipart object: the sha256 of the
// parts' sha256s, base64, "-" and the part count.
func (u *s3Multipart) composite() string {
	h := sha256.New()
	for _, s := range u.sums {
		h.Write(s)
	}
	return fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(h.Sum(nil)), len(u.sums))
}

// check asks the server what it holds of the upload: every part, of the
// size sent and with the sha256 computed here, and nothing else.
func (u *s3Multipart) check(ctx context.Context) error {
	in := &s3.ListPartsInput{Bucket: aws.String(u.bucket), Key: aws.String(u.key), UploadId: aws.String(u.id)}
	seen := 0
	var total int64
	for {
		out, err := u.c.ListParts(ctx, in)
		if err != nil {
			return err
		}
		for _, p := range out.Parts {
			i := int(aws.ToInt32(p.PartNumber)) - 1
			if i < 0 || i >= len(u.parts) {
				return fmt.Errorf("the server holds part %d, %d were sent", i+1, len(u.parts))
			}
			if aws.ToInt64(p.Size) != u.sizes[i] {
				return fmt.Errorf("part %d holds %d bytes, %d were sent", i+1, aws.ToInt64(p.Size), u.sizes[i])
			}
			if got, want := aws.ToString(p.ChecksumSHA256), aws.ToString(u.parts[i].ChecksumSHA256); got != want {
				return fmt.Errorf("part %d: the server's sha256 is %q, %q was sent", i+1, got, want)
			}
			seen++
			total += aws.ToInt64(p.Size)
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.PartNumberMarker = out.NextPartNumberMarker
	}
	if seen != len(u.parts) || total != u.n {
		return fmt.Errorf("the server holds %d parts (%d bytes), %d parts (%d bytes) were sent", seen, total, len(u.parts), u.n)
	}
	return nil
}

// complete makes the object appear under its key, if no object is there.
func (u *s3Multipart) complete(ctx context.Context) (string, error) {
	out, err := u.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(u.bucket), Key: aws.String(u.key), UploadId: aws.String(u.id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: u.parts},
		IfNoneMatch:     aws.String("*"),
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ChecksumSHA256), nil
}

// abort cancels the parts in flight and aborts the upload with a context
// of its own (the caller's may be the cancelled one).
func (u *s3Multipart) abort() error {
	u.cancel()
	u.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := u.c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(u.bucket), Key: aws.String(u.key), UploadId: aws.String(u.id)})
	var nf *types.NoSuchUpload
	if errors.As(err, &nf) {
		return nil
	}
	return err
}
