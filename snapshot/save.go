package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/atomicfile"
	"github.com/etcdmedic/etcdmedic/internal/buildinfo"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// SaveOptions configure one snapshot save.
type SaveOptions struct {
	// Target is a directory (the file gets its generated name) or a file path.
	Target string
	// From is FromFollower (default), FromLeader, or a member ID or name.
	From string
	// MaxLag is taken as given: 0 asks for a member that applied all the
	// leader committed (DefaultMaxLag is the command's default).
	MaxLag   uint64
	Compress bool
	// StallTimeout aborts the stream when no bytes arrive for this long: a
	// large snapshot may take minutes, a hung member must not take forever.
	StallTimeout time.Duration
	// Progress is called as bytes arrive (total is the server's estimate).
	Progress func(received, total int64)
	Now      func() time.Time
}

// SaveResult describes a saved, verified snapshot.
type SaveResult struct {
	Path     string    `json:"path"`
	Metadata *Metadata `json:"metadata"`
	Source   struct {
		MemberID string `json:"memberId"`
		Name     string `json:"name"`
		Endpoint string `json:"endpoint"`
		Reason   string `json:"reason"`
	} `json:"source"`
	// CleanedUp lists temporary files of earlier killed runs that were removed.
	CleanedUp []string `json:"cleanedUp"`
	// DurationSeconds is the whole save: choosing the source, streaming,
	// verifying and naming.
	DurationSeconds float64 `json:"durationSeconds"`
	// StreamSeconds is the stream alone, and BytesPerSecond the database
	// bytes over exactly that time: printed side by side, they must agree.
	StreamSeconds  float64 `json:"streamSeconds"`
	BytesPerSecond float64 `json:"bytesPerSecond"`
}

// ErrTargetExists refuses to overwrite a snapshot file.
var ErrTargetExists = fault.New(fault.Refused, "target file exists")

// Save streams a snapshot from the chosen member, verifies it and gives it its
// final name. On any failure nothing is left under the final name.
func Save(ctx context.Context, c *cluster.Cluster, opts SaveOptions) (*SaveResult, error) {
	start := time.Now()
	if opts.Now == nil {
		opts.Now = time.Now
	}
	dir, file, err := resolveTarget(opts.Target, opts.Compress)
	if err != nil {
		return nil, err
	}
	res := &SaveResult{}
	if res.CleanedUp, err = CleanupTemps(dir); err != nil {
		return nil, fmt.Errorf("clean up %s: %w", dir, err)
	}

	src, ms, err := pickSource(ctx, c, opts.From, opts.MaxLag, res)
	if err != nil {
		return nil, err
	}
	m, st := src.Status.Member, src.Status.Status

	raw, err := createTemp(dir, extDB)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	keep := []*tempFile{raw}
	defer func() {
		for _, t := range keep {
			t.discard()
		}
	}()

	streamStart := time.Now()
	dg, err := stream(ctx, c, m, raw, opts)
	if err != nil {
		return nil, fmt.Errorf("snapshot from %s: %w", m.Label(), err)
	}
	streamTook := time.Since(streamStart)
	c.Log.Info("snapshot streamed", "bytes", dg.n, "seconds", streamTook.Seconds())
	integ, dbSHA := dg.finish()
	switch integ {
	case integrityMissing:
		return nil, fmt.Errorf("snapshot from %s: %d bytes received, no sha256 appended: stream incomplete", m.Label(), dg.n)
	case integrityMismatch:
		return nil, fmt.Errorf("snapshot from %s: appended sha256 does not match the %d bytes received", m.Label(), dg.n)
	}

	// fsync and the full bolt read run side by side: the read is served from
	// the page cache while the disk writes back.
	var syncErr error
	var syncTook time.Duration
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); t := time.Now(); syncErr = raw.Sync(); syncTook = time.Since(t) }()
	statStart := time.Now()
	dbst, statErr := readStatus(raw.Name(), walkStructure)
	statTook := time.Since(statStart)
	wg.Wait()
	c.Log.Info("snapshot checked", "fsyncSeconds", syncTook.Seconds(), "boltReadSeconds", statTook.Seconds())
	if syncErr != nil {
		return nil, fmt.Errorf("snapshot: fsync %s: %w", raw.Name(), syncErr)
	}
	if statErr != nil {
		return nil, fmt.Errorf("snapshot from %s failed verification: %w", m.Label(), statErr)
	}

	stored, storedSHA, storedSize := raw, dbSHA, dg.n
	if opts.Compress {
		z, err := createTemp(dir, extZstd)
		if err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		keep = append(keep, z)
		if storedSHA, storedSize, err = compressTo(ctx, raw.File, z.File); err != nil {
			return nil, fmt.Errorf("snapshot: compress: %w", err)
		}
		if err := z.Sync(); err != nil {
			return nil, fmt.Errorf("snapshot: fsync %s: %w", z.Name(), err)
		}
		stored = z
	}

	created := opts.Now().UTC().Truncate(time.Millisecond)
	meta := &Metadata{
		ClusterID: cluster.FormatID(ms.ClusterID), MemberID: m.IDString(), MemberName: m.Name, Created: created,
		EtcdVersion: st.GetVersion(), StorageVersion: dbst.Version,
		Revision: dbst.Revision, RaftIndex: dbst.ConsistentIndex, RaftTerm: dbst.Term,
		Size: storedSize, SHA256: storedSHA, DBSize: dg.n, DBSHA256: dbSHA,
		TotalKeys: dbst.TotalKey, Hash: dbst.Hash, Verified: true, Tool: toolVersion(),
	}
	if meta.RaftTerm == 0 {
		meta.RaftTerm = st.GetRaftTerm()
	}
	if opts.Compress {
		meta.Compression = "zstd"
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name := func(at time.Time) string { return FileName(ms.ClusterID, dbst.Revision, at, opts.Compress) }
	if file, err = publish(stored, meta, file, dir, name, created); err != nil {
		return nil, err
	}
	stored.Close()
	if err := atomicfile.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	res.Path, res.Metadata = file, meta
	res.DurationSeconds = time.Since(start).Seconds()
	res.StreamSeconds = streamTook.Seconds()
	if res.StreamSeconds > 0 {
		res.BytesPerSecond = float64(dg.n) / res.StreamSeconds
	}
	return res, nil
}

// resolveTarget splits the target into the directory to work in and, when
// the user named a file, that file.
func resolveTarget(target string, compress bool) (dir, file string, err error) {
	if target == "" {
		target = "."
	}
	fi, err := os.Stat(target)
	switch {
	case err == nil && fi.IsDir():
		return target, "", nil
	case err == nil:
		return "", "", fmt.Errorf("%w: %s (snapshots are never overwritten)", ErrTargetExists, target)
	case !errors.Is(err, fs.ErrNotExist):
		return "", "", err
	case strings.HasSuffix(target, string(os.PathSeparator)):
		return "", "", fault.Mark(fmt.Errorf("directory %s does not exist", target), fault.Invalid)
	}
	dir = filepath.Dir(target)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", "", fault.Mark(fmt.Errorf("directory %s does not exist", dir), fault.Invalid)
	}
	if compress != IsCompressed(target) {
		return "", "", fault.Mark(fmt.Errorf("%s: a compressed snapshot's name ends in .zst, an uncompressed one's does not", target), fault.Invalid)
	}
	return dir, target, nil
}

// stream copies the member's snapshot into w. The stream as a whole may take
// long; what is bounded is the time without progress.
func stream(ctx context.Context, c *cluster.Cluster, m cluster.Member, w io.Writer, opts SaveOptions) (*digest, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	dctx, dcancel := c.WithCommandTimeout(ctx)
	cli, err := c.Client(dctx, m.Endpoint)
	dcancel()
	if err != nil {
		return nil, err
	}
	stall := opts.StallTimeout
	if stall <= 0 {
		stall = c.Config.CommandTimeout
	}
	watchdog := time.AfterFunc(stall, func() {
		cancel(fmt.Errorf("no data for %s (member hung or overloaded)", stall))
	})
	defer watchdog.Stop()

	sc, err := openSnapshotStream(ctx, cli.ActiveConnection())
	if err != nil {
		return nil, streamErr(ctx, err)
	}
	// Hashing runs beside the receive loop, on the other core: it must not
	// slow the stream down. It hands each chunk's buffer back once hashed.
	dg := newDigest()
	chunks := make(chan *snapshotChunk, 64)
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for c := range chunks {
			dg.Write(c.blob)
			c.release()
		}
	}()
	finish := func() { close(chunks); <-hashed }
	var received, total int64
	for first := true; ; first = false {
		resp := &snapshotChunk{}
		err := sc.RecvMsg(resp)
		if err == io.EOF {
			break
		}
		if err != nil {
			finish()
			return nil, streamErr(ctx, err)
		}
		watchdog.Reset(stall)
		if first {
			if got := resp.memberID; got != 0 && got != m.ID {
				resp.release()
				finish()
				return nil, fmt.Errorf("%s answered as member %s, expected %s", m.Endpoint, cluster.FormatID(got), m.IDString())
			}
		}
		if err := writeChunk(w, resp); err != nil {
			resp.release()
			finish()
			return nil, err
		}
		received += int64(len(resp.blob))
		remaining := int64(resp.remainingBytes)
		chunks <- resp
		if opts.Progress != nil {
			if t := received + remaining; t > total {
				total = t
			}
			opts.Progress(received, total)
		}
	}
	finish()
	return dg, nil
}

func streamErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

func toolVersion() string {
	v, _, _ := buildinfo.Get()
	if v == "" {
		v = "dev"
	}
	return "etcdmedic " + v
}
