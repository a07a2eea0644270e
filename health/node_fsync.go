package health

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/etcdmedic/etcdmedic/internal/humanize"
)

// FsyncProbeOptions bound the fdatasync probe. The defaults are fio's
// reference run for etcd (--bs=2300 --size=22m: about 10,000 writes), cut
// short by MaxTime on a slow disk.
type FsyncProbeOptions struct {
	BlockSize int           // bytes per write; etcd's WAL entries of a busy apiserver average ~2.3 KB
	MaxBytes  int64         // stop after writing this much
	MaxTime   time.Duration // or after this long
}

// DefaultFsyncProbe is fio's etcd run: 2300-byte writes, 22 MiB, at most 10 s.
var DefaultFsyncProbe = FsyncProbeOptions{BlockSize: 2300, MaxBytes: 22 << 20, MaxTime: 10 * time.Second}

// FsyncProbeResult is what the probe measured.
type FsyncProbeResult struct {
	Writes         int
	Bytes          int64
	Took           time.Duration
	P50, P99, P999 time.Duration
	Max            time.Duration
}

// ProbeFsync measures fdatasync latency the way etcd's WAL meets it:
// sequential writes of BlockSize bytes to one preallocated file, mode 0600,
// each followed by fdatasync. The file sits in dir (beside the data, on
// the same filesystem, never inside member/wal) and is removed afterwards.
func ProbeFsync(ctx context.Context, dir string, o FsyncProbeOptions) (*FsyncProbeResult, error) {
	if o.BlockSize <= 0 || o.MaxBytes <= 0 || o.MaxTime <= 0 {
		return nil, fmt.Errorf("fsync probe: block size, bytes and time must be positive")
	}
	f, err := os.CreateTemp(dir, ".etcdmedic-fsync-probe-*")
	if err != nil {
		return nil, fmt.Errorf("fsync probe in %s: %w", dir, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := f.Chmod(0o600); err != nil {
		return nil, fmt.Errorf("fsync probe: %w", err)
	}
	if err := preallocate(f, o.MaxBytes); err != nil {
		return nil, fmt.Errorf("fsync probe: preallocate %s: %w", humanize.Bytes(o.MaxBytes), err)
	}
	block := make([]byte, o.BlockSize)
	for i := range block {
		block[i] = byte(i*31 + 7) // not zeros: some storage compresses or dedups them
	}
	lat := make([]time.Duration, 0, o.MaxBytes/int64(o.BlockSize)+1)
	start := time.Now()
	var written int64
	for written < o.MaxBytes && time.Since(start) < o.MaxTime {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t0 := time.Now()
		if _, err := f.Write(block); err != nil {
			return nil, fmt.Errorf("fsync probe: write: %w", err)
		}
		if err := fdatasync(f); err != nil {
			return nil, fmt.Errorf("fsync probe: fdatasync: %w", err)
		}
		lat = append(lat, time.Since(t0))
		written += int64(len(block))
	}
	took := time.Since(start)
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return &FsyncProbeResult{Writes: len(lat), Bytes: written, Took: took,
		P50: q(0.50), P99: q(0.99), P999: q(0.999), Max: lat[len(lat)-1]}, nil
}
