package snapshot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/internal/etcdbin"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/playground"
)

// DrillOptions configure a restore drill.
type DrillOptions struct {
	// Source is a URL (the newest verified snapshot under it), a URL ending
	// in a snapshot's name, a directory, or a snapshot file.
	Source  string
	Fetch   FetchOptions
	TempDir string
	// StartTimeout bounds the restored member's start. Default 2 min.
	StartTimeout time.Duration
	// EtcdBinary runs the restored member with this etcd release binary
	// instead of the etcd server linked into this binary (playground's
	// member child); a build without it (-tags slim) runs the etcd on PATH.
	EtcdBinary string
	// EtcdutlBinary restores with this etcdutl instead of etcdutl's library;
	// the release build (-tags slim) runs the etcdutl beside it or on PATH.
	EtcdutlBinary string
	Now           func() time.Time
}

// DrillResult is what a drill found. JSON field names are a contract.
type DrillResult struct {
	Snapshot string    `json:"snapshot"`
	Metadata *Metadata `json:"metadata"`
	// Verify is the full check of the (downloaded, decrypted) snapshot.
	Verify *VerifyResult `json:"verify"`

	Revision         int64  `json:"revision"`
	ExpectedRevision int64  `json:"expectedRevision"`
	TotalKeys        int64  `json:"totalKeys"`
	ExpectedKeys     int    `json:"expectedKeys"`
	HashKV           uint32 `json:"hashKV"`
	// ExpectedHashKV is the source's at save time; 0 when it was not recorded.
	ExpectedHashKV uint32 `json:"expectedHashKV"`

	DownloadSeconds float64 `json:"downloadSeconds"`
	RestoreSeconds  float64 `json:"restoreSeconds"`
	StartSeconds    float64 `json:"startSeconds"`
	// CompareSeconds is the count of live keys and the HashKV on the
	// restored member.
	CompareSeconds float64 `json:"compareSeconds"`
	TotalSeconds   float64 `json:"totalSeconds"`
	// Matched: the member started, served, and every figure matched.
	Matched  bool      `json:"matched"`
	Problems []string  `json:"problems"`
	Finished time.Time `json:"finished"`
	// Etcdutl is the etcdutl binary that restored, as in restore's output
	// (absent: the full build's linked etcdutl code).
	Etcdutl *etcdbin.Tool `json:"etcdutl,omitempty"`
}

// ErrDrillMismatch marks a drill whose restored member disagrees with the
// snapshot's metadata, or did not start: the backup would fail the night it
// is needed.
var ErrDrillMismatch = fault.New(fault.Failed, "restore drill failed")

// Drill proves a snapshot restores: it verifies the snapshot, restores it
// into a throwaway data dir, starts an etcd member on it on loopback ports
// (a playground member: a child process), compares revision, live key count and HashKV with what the
// metadata recorded, stops the member and removes everything.
func Drill(ctx context.Context, o DrillOptions) (*DrillResult, error) {
	start := time.Now()
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 2 * time.Minute
	}
	// Before any download: no etcdutl to restore with is a usage error.
	etcdutlBin, err := FindRestoreTool(o.EtcdutlBinary)
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(o.TempDir, tempPrefix+"drill-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	if o.Fetch.TempDir == "" {
		o.Fetch.TempDir = work
	}

	res := &DrillResult{Problems: []string{}}
	local, meta, label, err := drillSource(ctx, o, res)
	res.Snapshot = label
	res.DownloadSeconds = time.Since(start).Seconds()
	// The report of a drill that stopped at its source says why and when,
	// as one that stopped later does: a scheduled job reading -o json must
	// not find matched=false and no problem.
	stopped := func(err error) (*DrillResult, error) {
		if res.Verify == nil {
			res.Problems = append(res.Problems, oneLine(err.Error()))
		}
		res.TotalSeconds, res.Finished = time.Since(start).Seconds(), o.Now()
		return res, err
	}
	if err != nil {
		return stopped(err)
	}
	res.Metadata = meta
	if meta == nil {
		return stopped(fault.Mark(fmt.Errorf("%s has no metadata: a drill has nothing to compare with", label), fault.Invalid))
	}
	res.ExpectedRevision, res.ExpectedKeys, res.ExpectedHashKV = meta.Revision, meta.TotalKeys, meta.HashKV

	// The member runs as a playground member (a child process: this
	// binary's linked etcd server, or an etcd binary), whose ports go
	// client, peer from a base: restored for that peer URL, in its data dir.
	base, err := freePortPair()
	if err != nil {
		return res, err
	}
	peer := fmt.Sprintf("http://127.0.0.1:%d", base+1)
	pgDir := filepath.Join(work, "member")
	dataDir := filepath.Join(pgDir, drillMember, "data")
	t := time.Now()
	err = drillRestore(ctx, etcdutlBin, local, dataDir, peer, work)
	res.RestoreSeconds = time.Since(t).Seconds()
	res.Etcdutl = etcdbin.DescribeRun(ctx, "etcdutl", etcdutlBin)
	if err != nil {
		res.Problems = append(res.Problems, "restore failed: "+oneLine(err.Error()))
		return finishDrill(res, start, o)
	}

	t = time.Now()
	pg, err := startDrillMember(ctx, pgDir, base, meta, o)
	res.StartSeconds = time.Since(t).Seconds()
	if fault.Kind(err) == fault.Invalid {
		return res, err // no etcd to run: a usage error, not a failed drill
	}
	if err != nil {
		res.Problems = append(res.Problems, "the restored member did not start: "+oneLine(err.Error()))
		return finishDrill(res, start, o)
	}
	defer pg.Stop()
	client := pg.Endpoints()[0]
	t = time.Now()
	defer func() { res.CompareSeconds = time.Since(t).Seconds() }()
	cli, err := pg.Client()
	if err != nil {
		res.Problems = append(res.Problems, "no client for the restored member: "+err.Error())
		return finishDrill(res, start, o)
	}
	defer cli.Close()
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The count and the HashKV (a read of every revision) run side by side.
	type hashed struct {
		resp *clientv3.HashKVResponse
		err  error
	}
	hc := make(chan hashed, 1)
	go func() {
		hr, err := cli.HashKV(qctx, client, meta.Revision)
		hc <- hashed{hr, err}
	}()
	gr, err := cli.Get(qctx, "", clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable())
	h := <-hc
	if err != nil {
		res.Problems = append(res.Problems, "the restored member does not serve reads: "+err.Error())
		return finishDrill(res, start, o)
	}
	res.Revision, res.TotalKeys = gr.Header.Revision, gr.Count
	if h.err != nil {
		res.Problems = append(res.Problems, "HashKV failed: "+h.err.Error())
	} else {
		res.HashKV = h.resp.Hash
	}
	if res.Revision != res.ExpectedRevision {
		res.Problems = append(res.Problems, fmt.Sprintf("revision is %d, metadata says %d", res.Revision, res.ExpectedRevision))
	}
	if res.TotalKeys != int64(res.ExpectedKeys) {
		res.Problems = append(res.Problems, fmt.Sprintf("%d keys, metadata says %d", res.TotalKeys, res.ExpectedKeys))
	}
	if res.ExpectedHashKV != 0 && res.HashKV != res.ExpectedHashKV {
		res.Problems = append(res.Problems, fmt.Sprintf("HashKV is %08x, the source's was %08x", res.HashKV, res.ExpectedHashKV))
	}
	return finishDrill(res, start, o)
}

func finishDrill(res *DrillResult, start time.Time, o DrillOptions) (*DrillResult, error) {
	res.TotalSeconds = time.Since(start).Seconds()
	res.Finished = o.Now()
	res.Matched = len(res.Problems) == 0
	if !res.Matched {
		return res, fmt.Errorf("%w: %s: %s", ErrDrillMismatch, res.Snapshot, res.Problems[0])
	}
	return res, nil
}

// drillSource resolves the source to a local, verified-to-be-intact file
// with its metadata beside it.
func drillSource(ctx context.Context, o DrillOptions, res *DrillResult) (local string, meta *Metadata, label string, err error) {
	if IsURL(o.Source) {
		r, loc, err := Open(ctx, o.Source)
		if err != nil {
			return "", nil, o.Source, err
		}
		defer r.Close()
		name := loc.Name
		if name == "" {
			es, err := r.List(ctx, o.Now())
			if err != nil {
				return "", nil, r.Display, err
			}
			e, ok := newestVerified(es)
			if !ok {
				return "", nil, r.Display, fault.Mark(fmt.Errorf("%s holds no verified snapshot", r.Display), fault.Failed)
			}
			name = baseOf(e)
		}
		f, err := r.fetch(ctx, name, o.Fetch)
		if err != nil {
			return "", nil, r.URLOf(name), err
		}
		// f.dir lies inside the drill's work dir when no TempDir was given.
		if f.locked {
			return "", f.meta, r.URLOf(name), fmt.Errorf("%w: %s: give --identity to drill it", ErrEncrypted, r.URLOf(name))
		}
		if len(f.problems) > 0 {
			res.Verify = &VerifyResult{File: r.URLOf(name), Problems: f.problems, Warnings: []string{}, Recipients: []string{}, Metadata: "mismatch"}
			return "", f.meta, r.URLOf(name), fmt.Errorf("%w: %s: %s", ErrCorrupt, r.URLOf(name), f.problems[0])
		}
		return f.path, f.meta, r.URLOf(name), nil
	}
	path := o.Source
	if path == "" {
		path = "."
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", nil, path, fault.Mark(err, fault.Invalid)
	}
	if fi.IsDir() {
		es, err := List(path, o.Now())
		if err != nil {
			return "", nil, path, err
		}
		e, ok := newestVerified(es)
		if !ok {
			return "", nil, path, fault.Mark(fmt.Errorf("%s holds no verified snapshot", path), fault.Failed)
		}
		path = e.Path
	}
	if strings.HasSuffix(path, extAge) {
		return "", nil, path, fault.Mark(errors.New("a local encrypted file: drill its destination URL instead"), fault.Invalid)
	}
	m, _, err := ReadMetadata(path)
	if err != nil {
		return path, m, path, err
	}
	// The bytes must be the ones saved: one read against the recorded sha256.
	if err := Recheck(ctx, path); err != nil {
		res.Verify = &VerifyResult{File: path, Problems: []string{oneLine(err.Error())}, Warnings: []string{}, Recipients: []string{}, Metadata: "mismatch"}
		return path, m, path, fmt.Errorf("%w: %s: %s", ErrCorrupt, path, oneLine(err.Error()))
	}
	return path, m, path, nil
}

// drillRestore writes the member data dir with etcdutl's restore, which
// checks etcd's appended sha256 as it goes. The drill does not run
// verify's bolt walk first: the object's sha256 was compared with its
// metadata as it was read, and the running member answering with the
// recorded revision, key count and HashKV says more than the walk could.
func drillRestore(ctx context.Context, etcdutlBin, local, dataDir, peer, work string) error {
	db := local
	if IsCompressed(local) {
		db = filepath.Join(work, "drill.db")
		in, err := os.Open(local)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(db, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		_, _, err = decompressTo(ctx, in, out)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("decompress: %w", err)
		}
		defer os.Remove(db)
	}
	return runRestore(ctx, etcdutlBin, restoreConfig{
		SnapshotPath: db, Name: drillMember, OutputDataDir: dataDir,
		PeerURLs: []string{peer}, InitialCluster: drillMember + "=" + peer, InitialClusterToken: drillToken,
	})
}

func newestVerified(es []Entry) (Entry, bool) {
	for _, e := range es {
		if e.Verified && !e.Future {
			return e, true
		}
	}
	return Entry{}, false
}

// drillMember is the restored member's name (the playground's first).
const drillMember = "m1"

// startDrillMember starts a one-member playground on the restored data dir
// and waits until it has a leader. The playground writes a config for a new
// cluster; etcd ignores the initial-cluster settings for a data dir that
// holds a member, and the restore made it one with this name and peer URL.
func startDrillMember(ctx context.Context, dir string, base int, meta *Metadata, o DrillOptions) (*playground.Cluster, error) {
	cfg := map[string]any{
		// A member with no peers elects itself after an election timeout:
		// a short one costs nothing here (etcd's default 1 s was most of a
		// drill's start, whatever the database's size).
		"heartbeat-interval": 10, "election-timeout": 100,
		"log-level": "error",
	}
	// A database near the default quota would start with a NOSPACE alarm.
	if q := 2 * meta.DBSize; q > 2<<30 {
		cfg["quota-backend-bytes"] = q
	}
	sctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	return playground.Start(sctx, playground.Options{Members: 1, Dir: dir, BasePort: base, EtcdBinary: o.EtcdBinary,
		Token: drillToken, Config: cfg, StartTimeout: o.StartTimeout})
}

// drillToken is the restored cluster's token (restore and start agree).
const drillToken = "etcdmedic-drill"

// freePortPair finds a free loopback port whose successor is free too.
func freePortPair() (int, error) {
	for i := 0; i < 100; i++ {
		a, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := a.Addr().(*net.TCPAddr).Port
		b, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		a.Close()
		if err == nil {
			b.Close()
			return p, nil
		}
	}
	return 0, errors.New("no two adjacent free loopback ports")
}
