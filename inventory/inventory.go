// Package inventory tells what fills an etcd keyspace: keys and bytes per
// Kubernetes resource and per top-level prefix, the namespaces that hold the
// most, and the largest keys. It is built to run against a struggling
// cluster: every read is a bounded page, all pages at one pinned revision,
// optionally serializable and paced, and memory stays flat however many keys
// there are (aggregates and fixed-size top-N heaps, never the key list).
package inventory

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unsafe"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/keyscope"
)

// Options shape one inventory run.
type Options struct {
	Prefix       string        // only keys under this prefix ("" = the whole keyspace)
	PageSize     int64         // keys per range request; default 1000
	KeysOnly     bool          // count keys without fetching values (sizes are key sizes only)
	Serializable bool          // read from the member asked, without going through the leader
	MaxRPS       float64       // at most this many range requests per second (0 = unpaced)
	TopN         int           // namespaces per resource and largest keys; default 10
	PageTimeout  time.Duration // deadline per page; default the cluster's --command-timeout
	// OnPage, if set, is called after every page (progress display).
	OnPage func(Progress)
}

// Progress is the state after one page.
type Progress struct {
	Pages, Keys int64
	Bytes       int64
}

// Report is the JSON contract of `etcdmedic inventory`.
type Report struct {
	Revision    int64           `json:"revision"`
	Prefix      string          `json:"prefix"`
	KeysOnly    bool            `json:"keysOnly"`
	Keys        int64           `json:"keys"`
	Bytes       int64           `json:"bytes"` // key + value bytes (key bytes only with keysOnly)
	Pages       int64           `json:"pages"`
	Resources   []ResourceUsage `json:"resources"` // Kubernetes resources under /registry/, largest first
	Prefixes    []PrefixUsage   `json:"prefixes"`  // everything else, by first path segment
	LargestKeys []KeySize       `json:"largestKeys"`
	TookSeconds float64         `json:"tookSeconds"`
}

type ResourceUsage struct {
	Resource      string           `json:"resource"` // "pods", "apiregistration.k8s.io/apiservices"
	Keys          int64            `json:"keys"`
	Bytes         int64            `json:"bytes"`
	TopNamespaces []NamespaceUsage `json:"topNamespaces"`
}

type NamespaceUsage struct {
	Namespace string `json:"namespace"`
	Keys      int64  `json:"keys"`
	Bytes     int64  `json:"bytes"`
}

type PrefixUsage struct {
	Prefix string `json:"prefix"`
	Keys   int64  `json:"keys"`
	Bytes  int64  `json:"bytes"`
}

type KeySize struct {
	Key   string `json:"key"`
	Bytes int64  `json:"bytes"`
}

// Read walks the keyspace page by page at one revision and aggregates as it goes.
// Read inventories the cluster: through a client balanced over the voters,
// or with Serializable from the one member that answered the member list
// (serializable reads are that member's view). Every page has the cluster's
// --command-timeout as its deadline unless PageTimeout says otherwise.
func Read(ctx context.Context, c *cluster.Cluster, o Options) (*Report, error) {
	ms, err := c.Members(ctx)
	if err != nil {
		return nil, fault.Mark(err, fault.Indeterminate)
	}
	var cli *clientv3.Client
	if o.Serializable {
		if err := ms.OneCluster(); err != nil {
			return nil, err
		}
		cli, err = c.Client(ctx, ms.AnsweredBy)
	} else {
		cli, err = c.VoterClient(ctx, ms)
		if cli != nil {
			defer cli.Close()
		}
	}
	if err != nil {
		return nil, fault.Mark(err, fault.KindOr(err, fault.Indeterminate))
	}
	if o.PageTimeout <= 0 {
		o.PageTimeout = c.Config.CommandTimeout
	}
	r, err := read(ctx, cli, o)
	if err != nil {
		switch {
		case o.Serializable || ctx.Err() != nil:
		case cluster.IsDeadline(err):
			err = fmt.Errorf("%w (no answer within %s: %w)", err, o.PageTimeout, ErrThroughLeader)
		case errors.Is(err, rpctypes.ErrLeaderChanged), errors.Is(err, rpctypes.ErrNoLeader), errors.Is(err, rpctypes.ErrTimeout):
			// The leader stepped down under the read, or never confirmed
			// it: a survivor's check-quorum at work.
			err = fmt.Errorf("%w (%w)", err, ErrThroughLeader)
		}
		return nil, fault.Mark(err, fault.Failed)
	}
	return r, nil
}

// ErrThroughLeader marks a page read through the leader that timed out:
// with quorum lost, or no leader, none ever answers, while a serializable
// read of one member's own copy still does.
var ErrThroughLeader = errors.New("a read through the leader needs a leader with a quorum")

func read(ctx context.Context, cli *clientv3.Client, o Options) (*Report, error) {
	if o.PageSize <= 0 {
		o.PageSize = 1000
	}
	if o.TopN <= 0 {
		o.TopN = 10
	}
	if o.PageTimeout <= 0 {
		o.PageTimeout = cluster.DefaultCommandTimeout
	}
	start := time.Now()
	agg := newAggregator(o.TopN)

	// etcd answers every limited Range with the count of ALL keys from the
	// page's first key to the range end: paging a large keyspace with one
	// wide range end would cost O(keys²/page) server CPU. The pager streams
	// where etcd can (3.7), about one range's work, and elsewhere keeps each
	// page's range end close to the keys it returns (internal/keyscope).
	rangeEnd := clientv3.GetPrefixRangeEnd(o.Prefix)
	cursor := o.Prefix
	if o.Prefix == "" {
		cursor, rangeEnd = "\x00", "\x00" // "\x00" as range end means "to the end of the keyspace"
	}
	var extra []clientv3.OpOption
	if o.KeysOnly {
		extra = append(extra, clientv3.WithKeysOnly())
	}
	if o.Serializable {
		extra = append(extra, clientv3.WithSerializable())
	}
	pages := keyscope.NewPager(cli, o.Prefix, rangeEnd, cursor, o.PageSize, o.PageTimeout, extra...)
	defer pages.Close()
	var pace <-chan time.Time
	if o.MaxRPS > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / o.MaxRPS))
		defer t.Stop()
		pace = t.C
	}
	for {
		resp, err := pages.Next(ctx)
		if err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				return nil, fmt.Errorf("inventory: revision %d was compacted during the read; run it again (a larger --page-size finishes sooner)", pages.Rev)
			}
			return nil, fmt.Errorf("inventory: read page %d: %w", agg.pages+1, err)
		}
		if resp == nil {
			break
		}
		// Every page reads the first page's revision: a consistent picture
		// even while the cluster keeps writing.
		agg.pages++
		// Keys per page bound the request count; the pager bounds a page's
		// bytes (keyscope.DefaultPageBytes) where values are large.
		for _, kv := range resp.Kvs {
			// No copy of the key: add clones the little it keeps.
			agg.add(unsafe.String(unsafe.SliceData(kv.Key), len(kv.Key)), int64(len(kv.Key)+len(kv.Value)))
		}
		if o.OnPage != nil {
			o.OnPage(Progress{Pages: agg.pages, Keys: agg.keys, Bytes: agg.bytes})
		}
		if pace != nil && !pages.Done() {
			select {
			case <-pace:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	r := agg.report()
	r.Revision, r.Prefix, r.KeysOnly = pages.Rev, o.Prefix, o.KeysOnly
	r.TookSeconds = time.Since(start).Seconds()
	return r, nil
}

// Classify splits a key into the Kubernetes resource and namespace it
// belongs to, or the top-level prefix of a non-Kubernetes key.
//
//	/registry/pods/ns/name                        → resource pods, namespace ns
//	/registry/namespaces/name                     → resource namespaces (cluster-scoped)
//	/registry/apiregistration.k8s.io/apiservices/x → resource apiregistration.k8s.io/apiservices
//	/calico/ipam/v2/...                           → prefix /calico
func Classify(key string) (resource, namespace, prefix string) {
	const registry = "/registry/"
	// Slicing, not strings.Split: this runs once per key, a million times
	// on a large keyspace, and must not allocate.
	if rest, ok := strings.CutPrefix(key, registry); ok {
		resource, rest, _ = cutSegment(rest)
		// Resources of API groups live under their group name, services
		// under specs/ and endpoints/.
		if strings.Contains(resource, ".") || resource == "services" {
			if seg, after, ok := cutSegment(rest); ok || seg != "" {
				resource, rest = key[len(registry):len(registry)+len(resource)+1+len(seg)], after
			}
		}
		if seg, _, ok := cutSegment(rest); ok {
			namespace = seg
		}
		return resource, namespace, ""
	}
	if strings.HasPrefix(key, "/") {
		if i := strings.IndexByte(key[1:], '/'); i >= 0 {
			return "", "", key[:i+1]
		}
		return "", "", key
	}
	if i := strings.IndexByte(key, '/'); i >= 0 {
		return "", "", key[:i]
	}
	return "", "", "(no prefix)"
}

// cutSegment splits s at its first '/': the segment before it, the rest
// after it, and whether there was one.
func cutSegment(s string) (seg, rest string, found bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

type counter struct{ keys, bytes int64 }

type resourceAgg struct {
	counter
	namespaces map[string]*counter
}

type aggregator struct {
	topN        int
	pages, keys int64
	bytes       int64
	resources   map[string]*resourceAgg
	prefixes    map[string]*counter
	largest     keyHeap
}

func newAggregator(topN int) *aggregator {
	return &aggregator{topN: topN, resources: map[string]*resourceAgg{}, prefixes: map[string]*counter{}}
}

func (a *aggregator) add(key string, size int64) {
	a.keys++
	a.bytes += size
	res, ns, prefix := Classify(key)
	if res != "" {
		r := a.resources[res]
		if r == nil {
			r = &resourceAgg{namespaces: map[string]*counter{}}
			a.resources[strings.Clone(res)] = r
		}
		r.keys++
		r.bytes += size
		if ns != "" {
			c := r.namespaces[ns]
			if c == nil {
				c = &counter{}
				r.namespaces[strings.Clone(ns)] = c
			}
			c.keys++
			c.bytes += size
		}
	} else {
		c := a.prefixes[prefix]
		if c == nil {
			c = &counter{}
			a.prefixes[strings.Clone(prefix)] = c
		}
		c.keys++
		c.bytes += size
	}
	// A fixed-size min-heap: the smallest of the current top N is at the root.
	if len(a.largest) < a.topN {
		heap.Push(&a.largest, KeySize{Key: strings.Clone(key), Bytes: size})
	} else if size > a.largest[0].Bytes {
		a.largest[0] = KeySize{Key: strings.Clone(key), Bytes: size}
		heap.Fix(&a.largest, 0)
	}
}

func (a *aggregator) report() *Report {
	r := &Report{Keys: a.keys, Bytes: a.bytes, Pages: a.pages, Resources: []ResourceUsage{}, Prefixes: []PrefixUsage{}}
	for name, ra := range a.resources {
		ru := ResourceUsage{Resource: name, Keys: ra.keys, Bytes: ra.bytes, TopNamespaces: []NamespaceUsage{}}
		for ns, c := range ra.namespaces {
			ru.TopNamespaces = append(ru.TopNamespaces, NamespaceUsage{Namespace: ns, Keys: c.keys, Bytes: c.bytes})
		}
		sort.Slice(ru.TopNamespaces, func(i, j int) bool {
			x, y := ru.TopNamespaces[i], ru.TopNamespaces[j]
			if x.Bytes != y.Bytes {
				return x.Bytes > y.Bytes
			}
			if x.Keys != y.Keys {
				return x.Keys > y.Keys
			}
			return x.Namespace < y.Namespace
		})
		if len(ru.TopNamespaces) > a.topN {
			ru.TopNamespaces = ru.TopNamespaces[:a.topN]
		}
		r.Resources = append(r.Resources, ru)
	}
	sort.Slice(r.Resources, func(i, j int) bool {
		x, y := r.Resources[i], r.Resources[j]
		if x.Bytes != y.Bytes {
			return x.Bytes > y.Bytes
		}
		return x.Resource < y.Resource
	})
	for p, c := range a.prefixes {
		r.Prefixes = append(r.Prefixes, PrefixUsage{Prefix: p, Keys: c.keys, Bytes: c.bytes})
	}
	sort.Slice(r.Prefixes, func(i, j int) bool {
		if r.Prefixes[i].Bytes != r.Prefixes[j].Bytes {
			return r.Prefixes[i].Bytes > r.Prefixes[j].Bytes
		}
		return r.Prefixes[i].Prefix < r.Prefixes[j].Prefix
	})
	r.LargestKeys = append([]KeySize{}, a.largest...)
	sort.Slice(r.LargestKeys, func(i, j int) bool {
		if r.LargestKeys[i].Bytes != r.LargestKeys[j].Bytes {
			return r.LargestKeys[i].Bytes > r.LargestKeys[j].Bytes
		}
		return r.LargestKeys[i].Key < r.LargestKeys[j].Key
	})
	return r
}

type keyHeap []KeySize

func (h keyHeap) Len() int           { return len(h) }
func (h keyHeap) Less(i, j int) bool { return h[i].Bytes < h[j].Bytes }
func (h keyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *keyHeap) Push(x any)        { *h = append(*h, x.(KeySize)) }
func (h *keyHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
