package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
)

// compressTo writes src (from its start) into dst as zstd and returns the
// sha256 and size of what it wrote.
func compressTo(ctx context.Context, src, dst *os.File) (string, int64, error) {
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return "", 0, err
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(dst, h)}
	enc, err := zstd.NewWriter(cw)
	if err != nil {
		return "", 0, err
	}
	if _, err := io.Copy(enc, ctxReader{ctx, src}); err != nil {
		enc.Close()
		return "", 0, err
	}
	if err := enc.Close(); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

// decompressTo writes the zstd stream src into dst and returns the sha256 and
// size of the compressed input it read.
func decompressTo(ctx context.Context, src io.Reader, dst io.Writer) (string, int64, error) {
	h := sha256.New()
	cr := &countReader{r: io.TeeReader(src, h)}
	dec, err := zstd.NewReader(cr)
	if err != nil {
		return "", 0, err
	}
	defer dec.Close()
	if _, err := io.Copy(dst, ctxReader{ctx, dec}); err != nil {
		return "", 0, fmt.Errorf("zstd: %w", err)
	}
	// Hash any trailing bytes the decoder did not need, so the sha256 covers the file.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), cr.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ctxReader stops a long copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
