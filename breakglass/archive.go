package breakglass

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
)

// The purge archive holds every deleted key with its value and the
// ModRevision it was read at: zstd-compressed records of
// uvarint len, key, uvarint len, value, uvarint modRevision.
const archiveMagic = "etcdmedic-purge-archive/1\n"

// ArchivedKV is one record.
type ArchivedKV struct {
	Key         []byte
	Value       []byte
	ModRevision int64
}

type archiveWriter struct {
	zw  *zstd.Encoder
	buf [binary.MaxVarintLen64]byte
}

func newArchiveWriter(w io.Writer) (*archiveWriter, error) {
	if _, err := io.WriteString(w, archiveMagic); err != nil {
		return nil, err
	}
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	return &archiveWriter{zw: zw}, nil
}

func (a *archiveWriter) put(key, value []byte, modRev int64) error {
	for _, b := range [][]byte{key, value} {
		n := binary.PutUvarint(a.buf[:], uint64(len(b)))
		if _, err := a.zw.Write(a.buf[:n]); err != nil {
			return err
		}
		if _, err := a.zw.Write(b); err != nil {
			return err
		}
	}
	n := binary.PutUvarint(a.buf[:], uint64(modRev))
	_, err := a.zw.Write(a.buf[:n])
	return err
}

func (a *archiveWriter) close() error { return a.zw.Close() }

// ReadArchive calls fn for every record in order.
func ReadArchive(path string, fn func(ArchivedKV) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	head := make([]byte, len(archiveMagic))
	if _, err := io.ReadFull(br, head); err != nil || string(head) != archiveMagic {
		return fmt.Errorf("archive %s: not an etcdmedic purge archive", path)
	}
	zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return fmt.Errorf("archive %s: %w", path, err)
	}
	defer zr.Close()
	r := bufio.NewReader(zr)
	readBytes := func() ([]byte, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, err
		}
		if n > 64<<20 {
			return nil, fmt.Errorf("record of %d bytes", n)
		}
		b := make([]byte, n)
		_, err = io.ReadFull(r, b)
		return b, err
	}
	for {
		key, err := readBytes()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("archive %s: %w", path, err)
		}
		val, err := readBytes()
		if err != nil {
			return fmt.Errorf("archive %s: truncated: %w", path, err)
		}
		rev, err := binary.ReadUvarint(r)
		if err != nil {
			return fmt.Errorf("archive %s: truncated: %w", path, err)
		}
		if err := fn(ArchivedKV{Key: key, Value: val, ModRevision: int64(rev)}); err != nil {
			return err
		}
	}
}
