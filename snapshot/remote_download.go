package snapshot

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
)

// A large object is downloaded as consecutive ranges, a few at a time, and
// handed on in order: one GET keeps one of the server's cores busy and
// waits on each of its disk reads, several keep the bytes coming while the
// receiver hashes and writes. The buffers (one per range in flight) are
// what a download holds in memory.
const (
	downloadRange       = 8 << 20
	downloadConcurrency = 4
)

// downloadObject streams the first size bytes of an object (its size when
// the download began) into w, in order, and returns how many it wrote. On
// S3 every range asks for the ETag the object had then, so a replacement
// mid-download fails the download instead of splicing two objects.
func (r *Remote) downloadObject(ctx context.Context, name string, size int64, etag string, w io.Writer) (int64, error) {
	if size <= downloadRange {
		return r.copyObject(ctx, name, w)
	}
	ctx, cancel := context.WithCancel(ctx)
	type result struct {
		buf []byte
		err error
	}
	count := int((size + downloadRange - 1) / downloadRange)
	results := make([]chan result, count)
	for i := range results {
		results[i] = make(chan result, 1)
	}
	// A range is fetched only once a buffer is free: the consumer frees
	// one per range it has written.
	free := make(chan []byte, downloadConcurrency)
	for i := 0; i < downloadConcurrency; i++ {
		free <- nil
	}
	opts := &blob.ReaderOptions{BeforeRead: func(as func(any) bool) error {
		var in *s3.GetObjectInput
		if etag != "" && as(&in) {
			in.IfMatch = aws.String(etag)
		}
		return quietChecksums(as)
	}}
	var wg sync.WaitGroup
	// Cancelled first: the fetches still running end, and then nothing
	// is left behind.
	defer func() { cancel(); wg.Wait() }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < count; i++ {
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return
			}
			off := int64(i) * downloadRange
			n := min(int64(downloadRange), size-off)
			if buf == nil {
				buf = make([]byte, downloadRange)
			}
			wg.Add(1)
			go func(i int, off int64, buf []byte) {
				defer wg.Done()
				err := r.readRange(ctx, name, off, buf, opts)
				results[i] <- result{buf, err}
			}(i, off, buf[:n])
		}
	}()
	var written int64
	for i := 0; i < count; i++ {
		var res result
		select {
		case res = <-results[i]:
		case <-ctx.Done():
			return written, ctx.Err()
		}
		if res.err != nil {
			return written, res.err
		}
		n, err := w.Write(res.buf)
		written += int64(n)
		if err != nil {
			return written, err
		}
		free <- res.buf[:cap(res.buf)]
	}
	return written, nil
}

// readRange fills buf with the object's bytes from off on.
func (r *Remote) readRange(ctx context.Context, name string, off int64, buf []byte, opts *blob.ReaderOptions) error {
	rd, err := r.Bucket.NewRangeReader(ctx, r.Key(name), off, int64(len(buf)), opts)
	if err != nil {
		return r.classify(fmt.Errorf("read %s", r.URLOf(name)), err)
	}
	defer rd.Close()
	if _, err := io.ReadFull(rd, buf); err != nil {
		return fmt.Errorf("read %s at %d: %s", r.URLOf(name), off, redact(oneLine(err.Error())))
	}
	return nil
}

// teeWriter writes each slice to both writers at once: the hash on this
// goroutine, the file on another (both only read the slice).
type teeWriter struct {
	hash io.Writer
	file io.Writer
}

func (t teeWriter) Write(p []byte) (int, error) {
	done := make(chan error, 1)
	go func() {
		_, err := t.file.Write(p)
		done <- err
	}()
	t.hash.Write(p)
	if err := <-done; err != nil {
		return 0, err
	}
	return len(p), nil
}
