package breakglass

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/atomicfile"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/keyscope"
	"github.com/etcdmedic/etcdmedic/internal/kube"
)

// ErrArchiveExists refuses a purge whose archive path is taken: archives
// are never overwritten or removed by a later run.
var ErrArchiveExists = errors.New("the archive exists, and archives are never overwritten (it may hold the only copy of pods an earlier purge deleted): give a new --archive path, or leave it out for a fresh name in --state-dir")

var errNothingArchived = errors.New("nothing matched")

// MaxTxnOps is etcd's default --max-txn-ops: no transaction is larger.
const MaxTxnOps = 128

// PurgeOptions configure a purge. Zero values are the defaults.
type PurgeOptions struct {
	Prefix      string // default "/registry"
	Filter      PodFilter
	DryRun      bool
	PageSize    int     // keys per range read; default 500
	BatchSize   int     // deletes per transaction; default and maximum 128
	Rate        float64 // keys per second; 0 unlimited
	Concurrency int     // transactions in flight; default 4
	Archive     string  // where deleted keys and values go first; required unless DryRun
	Samples     int     // sample keys in the report; default 10
	// OnArchived runs once the archive is durable, before any delete: the
	// journal records it there, so an interrupted purge can still be undone.
	OnArchived func(rep *PurgeReport) error
	// BeforeDelete runs after the read and the archive, before the first
	// delete: tests change a pod here to prove the ModRevision guard.
	BeforeDelete func(ctx context.Context) error
	Progress     func(Progress)
}

// Progress is reported while scanning and deleting.
type Progress struct {
	Stage   string // "scan" or "delete"
	Done    int
	Total   int // 0 while unknown
	Elapsed time.Duration
}

// GroupCount is pods and bytes for one namespace and phase.
type GroupCount struct {
	Namespace string `json:"namespace"`
	Phase     string `json:"phase"`
	Pods      int    `json:"pods"`
	Bytes     int64  `json:"bytes"`
}

// PurgeReport is what a purge found and did.
type PurgeReport struct {
	DryRun        bool         `json:"dryRun"`
	Prefix        string       `json:"prefix"`
	Revision      int64        `json:"revision"`
	Scanned       int          `json:"scanned"`
	Matched       int          `json:"matched"`
	BytesToFree   int64        `json:"bytesToFree"`
	Encrypted     int          `json:"encrypted"`
	Undecodable   int          `json:"undecodable"`
	BadKeys       int          `json:"badKeys"`
	Groups        []GroupCount `json:"groups"`
	SampleKeys    []string     `json:"sampleKeys"`
	Deleted       int          `json:"deleted"`
	Changed       int          `json:"changed"` // modified or gone since read: left alone
	Archive       string       `json:"archive,omitempty"`
	ArchiveSHA256 string       `json:"archiveSha256,omitempty"`
	Seconds       float64      `json:"seconds"`
}

func (o *PurgeOptions) defaults() {
	if o.Prefix == "" {
		o.Prefix = "/registry"
	}
	o.Prefix = "/" + strings.Trim(o.Prefix, "/")
	if o.PageSize <= 0 {
		o.PageSize = 500
	}
	if o.BatchSize <= 0 || o.BatchSize > MaxTxnOps {
		o.BatchSize = MaxTxnOps
	}
	if o.Concurrency <= 0 {
		// A few transactions in flight let etcd batch their fsyncs.
		o.Concurrency = 4
	}
	if o.Samples <= 0 {
		o.Samples = 10
	}
}

// PodsPrefix is the range the purge reads: the trailing slash matters, since
// "/registry/pods" alone also matches /registry/podschedulingcontexts/...
func PodsPrefix(prefix string) string { return "/" + strings.Trim(prefix, "/") + "/pods/" }

// PodKey splits a key of the exact shape <prefix>/pods/<ns>/<name>.
func PodKey(podsPrefix string, key []byte) (ns, name string, ok bool) {
	rest, found := bytes.CutPrefix(key, []byte(podsPrefix))
	if !found {
		return "", "", false
	}
	parts := strings.Split(string(rest), "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// Purge deletes the pods the filter matches straight from etcd. It reads
// <prefix>/pods/ in pages at one pinned revision, writes every match to the
// archive (atomically: the archive exists complete or not at all), and only
// then deletes, in transactions of at most 128 deletes, each guarded by the
// ModRevision it read. Never a range delete. It works through a client
// balanced over c's voters, every call bounded by --command-timeout (each
// page of the read, each transaction). A failure after some deletes is
// marked fault.Partial.
func Purge(ctx context.Context, c *cluster.Cluster, o PurgeOptions) (*PurgeReport, error) {
	k, closeFn, err := connectVoters(ctx, c)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	return purge(ctx, k, o)
}

func purge(ctx context.Context, k kvConn, o PurgeOptions) (*PurgeReport, error) {
	o.defaults()
	start := time.Now()
	rep := &PurgeReport{DryRun: o.DryRun, Prefix: o.Prefix, Archive: o.Archive}
	if !o.DryRun && o.Archive == "" {
		return rep, errors.New("purge: an archive path is required to delete")
	}
	if math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) || o.Rate < 0 || o.Filter.OlderThan < 0 {
		// NaN slips past every comparison: the pacer and the age filter
		// would quietly stop limiting.
		return rep, fault.New(fault.Invalid, fmt.Sprintf("purge: rate %v and age %s must be finite and ≥ 0", o.Rate, o.Filter.OlderThan))
	}
	groups := map[[2]string]*GroupCount{}
	scan := func(w io.Writer) error {
		var aw *archiveWriter
		if w != nil {
			var err error
			if aw, err = newArchiveWriter(w); err != nil {
				return err
			}
		}
		if err := scanPods(ctx, k, o, rep, groups, aw, start); err != nil {
			return err
		}
		if aw != nil {
			return aw.close()
		}
		return nil
	}
	if o.DryRun {
		if err := scan(nil); err != nil {
			return rep, err
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(o.Archive), 0o700); err != nil {
			return rep, fmt.Errorf("purge: archive: %w", err)
		}
		h := sha256.New()
		// NoReplace: an archive may hold the only copy of pods an earlier
		// purge deleted; no run ever overwrites one. An archive of nothing
		// is not created at all.
		err := atomicfile.WriteWith(o.Archive, atomicfile.Options{Perm: 0o600, NoReplace: true}, func(w io.Writer) error {
			if err := scan(io.MultiWriter(w, h)); err != nil {
				return err
			}
			if rep.Matched == 0 {
				return errNothingArchived
			}
			return nil
		})
		switch {
		case errors.Is(err, errNothingArchived):
			rep.Archive = ""
		case errors.Is(err, fs.ErrExist):
			return rep, fault.Mark(fmt.Errorf("purge: %w", ErrArchiveExists), fault.Invalid)
		case err != nil:
			return rep, fmt.Errorf("purge: %w", err)
		default:
			rep.ArchiveSHA256 = hex.EncodeToString(h.Sum(nil))
		}
	}
	for _, g := range groups {
		rep.Groups = append(rep.Groups, *g)
	}
	sort.Slice(rep.Groups, func(i, j int) bool {
		a, b := rep.Groups[i], rep.Groups[j]
		if a.Pods != b.Pods {
			return a.Pods > b.Pods
		}
		return a.Namespace+"/"+a.Phase < b.Namespace+"/"+b.Phase
	})
	if o.DryRun || rep.Matched == 0 {
		rep.Seconds = time.Since(start).Seconds()
		return rep, nil
	}
	if o.OnArchived != nil {
		if err := o.OnArchived(rep); err != nil {
			return rep, err
		}
	}
	if o.BeforeDelete != nil {
		if err := o.BeforeDelete(ctx); err != nil {
			return rep, err
		}
	}
	err := deleteArchived(ctx, k, o, rep, start)
	rep.Seconds = time.Since(start).Seconds()
	if err != nil && rep.Deleted > 0 {
		err = fault.Mark(err, fault.Partial)
	}
	return rep, err
}

func scanPods(ctx context.Context, k kvConn, o PurgeOptions, rep *PurgeReport, groups map[[2]string]*GroupCount, aw *archiveWriter, start time.Time) error {
	prefix := PodsPrefix(o.Prefix)
	ctx, stopFetching := context.WithCancel(ctx)
	defer stopFetching()
	pages := fetchPages(ctx, k, prefix, o)
	for page := range pages {
		if page.err != nil {
			return page.err
		}
		if rep.Revision == 0 {
			rep.Revision = page.revision
		}
		decoded := decodePage(prefix, page.kvs)
		for i, kv := range page.kvs {
			rep.Scanned++
			ns, name, pod, err := decoded[i].ns, decoded[i].name, decoded[i].pod, decoded[i].err
			if !decoded[i].ok {
				rep.BadKeys++
				continue
			}
			switch {
			case errors.Is(err, kube.ErrEncrypted):
				rep.Encrypted++
				continue
			case err != nil, pod.Namespace != ns, pod.Name != name:
				rep.Undecodable++
				continue
			}
			if !o.Filter.Match(pod) {
				continue
			}
			rep.Matched++
			size := int64(len(kv.Key) + len(kv.Value))
			rep.BytesToFree += size
			g := groups[[2]string{ns, string(pod.Status.Phase)}]
			if g == nil {
				g = &GroupCount{Namespace: ns, Phase: string(pod.Status.Phase)}
				groups[[2]string{ns, string(pod.Status.Phase)}] = g
			}
			g.Pods++
			g.Bytes += size
			if len(rep.SampleKeys) < o.Samples {
				rep.SampleKeys = append(rep.SampleKeys, string(kv.Key))
			}
			if aw != nil {
				if err := aw.put(kv.Key, kv.Value, kv.ModRevision); err != nil {
					return err
				}
			}
		}
		if o.Progress != nil {
			o.Progress(Progress{Stage: "scan", Done: rep.Scanned, Elapsed: time.Since(start)})
		}
	}
	return nil
}

type podPage struct {
	kvs      []*mvccpb.KeyValue
	revision int64
	err      error
}

// fetchPages reads prefix page by page at the revision of the first page.
// It asks for the next page as soon as a page is handed over, so etcd serves
// the read while the previous page is being decoded; at most three pages
// (decoding, queued, in flight) are held at once. The channel closes after the last
// page or after a page carrying an error.
func fetchPages(ctx context.Context, k kvConn, prefix string, o PurgeOptions) <-chan podPage {
	out := make(chan podPage, 1)
	go func() {
		defer close(out)
		// One stream where etcd can (3.7), else pages whose range ends stay
		// close to their keys, so etcd does not count all the rest per page.
		pages := keyscope.NewPager(k.cli, prefix, clientv3.GetPrefixRangeEnd(prefix), prefix, int64(o.PageSize), k.page)
		defer pages.Close()
		for {
			resp, err := pages.Next(ctx)
			if err != nil {
				err = fmt.Errorf("read %s at revision %d: %w", prefix, pages.Rev, err)
				select {
				case out <- podPage{err: err}:
				case <-ctx.Done():
				}
				return
			}
			if resp == nil {
				return
			}
			if len(resp.Kvs) == 0 {
				continue
			}
			select {
			case out <- podPage{kvs: resp.Kvs, revision: pages.Rev}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

type decodedKV struct {
	ns, name string
	ok       bool
	pod      *corev1.Pod
	err      error
}

// decodePage decodes a page's values on every core: decoding is most of
// the scan's CPU, and the scan is time the cluster waits for the deletes.
func decodePage(prefix string, kvs []*mvccpb.KeyValue) []decodedKV {
	out := make([]decodedKV, len(kvs))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(kvs); i += workers {
				d := &out[i]
				if d.ns, d.name, d.ok = PodKey(prefix, kvs[i].Key); d.ok {
					d.pod, d.err = kube.DecodePod(kvs[i].Value)
				}
			}
		}(w)
	}
	wg.Wait()
	return out
}

// deleteArchived replays the archive as guarded deletes, paced by o.Rate.
func deleteArchived(ctx context.Context, k kvConn, o PurgeOptions, rep *PurgeReport, start time.Time) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []ArchivedKV, o.Concurrency)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				deleted, changed, err := guardedDelete(ctx, k, b)
				mu.Lock()
				rep.Deleted += deleted
				rep.Changed += changed
				done := rep.Deleted + rep.Changed
				mu.Unlock()
				if err != nil {
					fail(err)
					continue
				}
				if o.Progress != nil {
					o.Progress(Progress{Stage: "delete", Done: done, Total: rep.Matched, Elapsed: time.Since(start)})
				}
			}
		}()
	}
	pace := newPacer(o.Rate)
	var batch []ArchivedKV
	send := func() error {
		if err := pace.wait(ctx, len(batch)); err != nil {
			return err
		}
		select {
		case batches <- batch:
		case <-ctx.Done():
			return ctx.Err()
		}
		batch = nil
		return nil
	}
	readErr := ReadArchive(o.Archive, func(kv ArchivedKV) error {
		batch = append(batch, kv)
		if len(batch) == o.BatchSize {
			return send()
		}
		return nil
	})
	if readErr == nil && len(batch) > 0 {
		readErr = send()
	}
	close(batches)
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("purge: delete: %w", firstErr)
	}
	if readErr != nil {
		return fmt.Errorf("purge: %w", readErr)
	}
	return nil
}

// guardedDelete deletes a batch in one transaction if no key changed since
// it was read; otherwise key by key, so one changed pod costs only itself.
func guardedDelete(ctx context.Context, k kvConn, b []ArchivedKV) (deleted, changed int, err error) {
	cmps := make([]clientv3.Cmp, len(b))
	ops := make([]clientv3.Op, len(b))
	for i, kv := range b {
		cmps[i] = clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision)
		ops[i] = clientv3.OpDelete(string(kv.Key))
	}
	tctx, cancel := k.deadline(ctx)
	resp, err := k.cli.Txn(tctx).If(cmps...).Then(ops...).Commit()
	cancel()
	if err != nil {
		return 0, 0, err
	}
	if resp.Succeeded {
		return len(b), 0, nil
	}
	for _, kv := range b {
		tctx, cancel := k.deadline(ctx)
		resp, err := k.cli.Txn(tctx).
			If(clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision)).
			Then(clientv3.OpDelete(string(kv.Key))).Commit()
		cancel()
		if err != nil {
			return deleted, changed, err
		}
		if resp.Succeeded {
			deleted++
		} else {
			changed++
		}
	}
	return deleted, changed, nil
}

// pacer spaces batches so that keys/s stays at or under rate.
type pacer struct {
	rate  float64
	start time.Time
	sent  int
}

func newPacer(rate float64) *pacer { return &pacer{rate: rate, start: time.Now()} }

func (p *pacer) wait(ctx context.Context, n int) error {
	if p.rate <= 0 {
		return nil
	}
	due := p.start.Add(time.Duration(float64(p.sent) / p.rate * float64(time.Second)))
	p.sent += n
	if d := time.Until(due); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// RestoreResult counts what an archive restore did.
type RestoreResult struct {
	Archived int `json:"archived"` // records in the archive
	Restored int `json:"restored"`
	Existing int `json:"existing"` // the key exists now: left alone
}

// RestoreArchive puts archived keys back where the key does not exist now
// (CreateRevision == 0), in transactions of at most 128 puts, through c's
// voters, each transaction bounded by --command-timeout.
func RestoreArchive(ctx context.Context, c *cluster.Cluster, path string) (RestoreResult, error) {
	k, closeFn, err := connectVoters(ctx, c)
	if err != nil {
		return RestoreResult{}, err
	}
	defer closeFn()
	return restoreArchive(ctx, k, path)
}

func restoreArchive(ctx context.Context, k kvConn, path string) (RestoreResult, error) {
	var res RestoreResult
	var batch []ArchivedKV
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		defer func() { batch = batch[:0] }()
		cmps := make([]clientv3.Cmp, len(batch))
		ops := make([]clientv3.Op, len(batch))
		for i, kv := range batch {
			cmps[i] = clientv3.Compare(clientv3.CreateRevision(string(kv.Key)), "=", 0)
			ops[i] = clientv3.OpPut(string(kv.Key), string(kv.Value))
		}
		tctx, cancel := k.deadline(ctx)
		resp, err := k.cli.Txn(tctx).If(cmps...).Then(ops...).Commit()
		cancel()
		if err != nil {
			return err
		}
		if resp.Succeeded {
			res.Restored += len(batch)
			return nil
		}
		for _, kv := range batch {
			tctx, cancel := k.deadline(ctx)
			resp, err := k.cli.Txn(tctx).If(clientv3.Compare(clientv3.CreateRevision(string(kv.Key)), "=", 0)).
				Then(clientv3.OpPut(string(kv.Key), string(kv.Value))).Commit()
			cancel()
			if err != nil {
				return err
			}
			if resp.Succeeded {
				res.Restored++
			} else {
				res.Existing++
			}
		}
		return nil
	}
	err := ReadArchive(path, func(kv ArchivedKV) error {
		res.Archived++
		batch = append(batch, kv)
		if len(batch) == MaxTxnOps {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return res, fmt.Errorf("restore %s: %w", path, err)
	}
	return res, nil
}

// FileSHA256 digests a file, to check an archive against the journal.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
