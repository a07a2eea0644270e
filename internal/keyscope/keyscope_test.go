package keyscope

import (
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// walk pages through keys (sorted) the way etcd answers a limited Range:
// the page is the first limit keys of [cursor, end), Count is every key of
// [cursor, end) (etcd visits each of them), More says whether keys were left.
// It returns the keys visited in order, the sum of the counts and the number
// of requests.
func walk(t *testing.T, keys []string, prefix, end, start string, limit int64) (seen []string, counted, requests int) {
	t.Helper()
	sc := New(prefix, end, start, limit)
	for {
		requests++
		if requests > 10*len(keys)+1000 {
			t.Fatal("no progress")
		}
		from, to := sc.Cursor(), sc.End()
		lo := sort.SearchStrings(keys, from)
		hi := len(keys)
		if to != "\x00" {
			hi = sort.SearchStrings(keys, to)
		}
		if hi < lo {
			t.Fatalf("scope [%q, %q) is empty backwards", from, to)
		}
		resp := &clientv3.GetResponse{Count: int64(hi - lo)}
		counted += hi - lo
		for _, k := range keys[lo:min(hi, lo+int(limit))] {
			resp.Kvs = append(resp.Kvs, &mvccpb.KeyValue{Key: []byte(k)})
		}
		resp.More = hi-lo > int(limit)
		for _, kv := range resp.Kvs {
			seen = append(seen, string(kv.Key))
		}
		if !sc.Advance(resp) {
			return seen, counted, requests
		}
	}
}

func under(keys []string, prefix string) []string {
	var want []string
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			want = append(want, k)
		}
	}
	return want
}

// The Scoper must visit every key exactly once, whatever the layout.
func TestScoperVisitsEveryKeyOnce(t *testing.T) {
	keys := []string{"/a", "/calico/x/1", "/calico/x/2", "/calico/y", "/registry/configmaps/ns1/c", "/registry/pods/ns1/a",
		"/registry/pods/ns1/b", "/registry/pods/ns1/c", "/registry/pods/ns2/a", "/registry/pods/ns3/a", "/registry/pods/ns3/b",
		"/registry/pods/zz", "/registry/pods/ns1", "/registry/pods/ns1!x", "/registry/pods/ns1/\xff", "/registry/pods/ns1/\xff\xff", "/registry/pods/\xff\xff/a",
		"/registry/pods-extra/ns1/a", "/registry/z", "/zzz/1", "compact_rev_key", "z/1", "\x00", "\x00\x01", "\xff", "\xff\xff\xff"}
	sort.Strings(keys)
	for _, tc := range []struct{ prefix, end, start string }{
		{"", "\x00", "\x00"},
		{"", "\x00", ""},
		{"/registry/", "/registry0", "/registry/"},
		{"/registry/pods/", "/registry/pods0", "/registry/pods/"},
		{"/registry/pods/", "/registry/pods0", "/registry/pods/ns1/b"},
	} {
		for _, limit := range []int64{1, 2, 3, 100} {
			seen, _, _ := walk(t, keys, tc.prefix, tc.end, tc.start, limit)
			var want []string
			for _, k := range under(keys, tc.prefix) {
				if k >= tc.start {
					want = append(want, k)
				}
			}
			if strings.Join(seen, ",") != strings.Join(want, ",") {
				t.Fatalf("prefix %q from %q limit %d: visited\n%q\nwant\n%q", tc.prefix, tc.start, limit, seen, want)
			}
		}
	}
}

// layout builds a keyspace like a real cluster's: thousands of namespaces
// with a long tail of sizes, grouped resources, CRDs, cluster-scoped ones and
// a few non-Kubernetes keys.
func layout(namespaces int, seed int64) []string {
	r := rand.New(rand.NewSource(seed))
	var keys []string
	add := func(format string, a ...any) { keys = append(keys, fmt.Sprintf(format, a...)) }
	for i := 0; i < namespaces; i++ {
		ns := fmt.Sprintf("team-%x-%d", r.Intn(1<<20), i)
		add("/registry/namespaces/%s", ns)
		// A long tail: a few namespaces hold thousands, most a handful.
		size := int(3 / (r.Float64() + 0.001))
		for _, res := range []string{"pods", "configmaps", "secrets", "events", "serviceaccounts", "apps/deployments", "apps/replicasets", "cilium.io/ciliumendpoints"} {
			for j := 0; j < size/2+r.Intn(size+1); j++ {
				add("/registry/%s/%s/obj-%d", res, ns, j)
			}
		}
	}
	for i := 0; i < 300; i++ {
		add("/registry/clusterroles/role-%d", i)
		add("/registry/apiextensions.k8s.io/customresourcedefinitions/crd%d.example.com", i)
		add("/registry/minions/node-%d", i)
	}
	for i := 0; i < 200; i++ {
		add("/calico/ipam/v2/host/n%d", i)
	}
	add("compact_rev_key")
	sort.Strings(keys)
	return keys
}

// What etcd counts over a whole walk stays within a few passes over the keys
// (an unlimited Range counts each key once), whatever the layout. Measured
// when written: 5.7×, 3.3×, 7.4×, 3.8×, 2.8× (the directory-only scopes
// before counted 22.6×, 31.7×, 81.1×, 9.0×, 25.5×: about keys²/(2·page) where
// pages leave directories). Servers that stream never page this way.
func TestScoperCountsAboutOnePass(t *testing.T) {
	flat := make([]string, 0, 50000)
	for i := 0; i < 50000; i++ {
		flat = append(flat, fmt.Sprintf("key-%08d", i*7919%100000))
	}
	sort.Strings(flat)
	for _, tc := range []struct {
		name   string
		keys   []string
		prefix string
		limit  int64
		most   float64 // counted keys per key read, at most
	}{
		{"long tail, whole keyspace", layout(3000, 1), "", 1000, 6.5},
		{"long tail, pods (purge's scan)", layout(3000, 2), "/registry/pods/", 500, 4},
		{"long tail, small pages", layout(1000, 3), "", 50, 8},
		{"few large namespaces", few(), "", 1000, 4},
		{"flat keys", flat, "", 1000, 3.5},
	} {
		end, start := clientv3.GetPrefixRangeEnd(tc.prefix), tc.prefix
		if tc.prefix == "" {
			end, start = "\x00", "\x00"
		}
		seen, counted, requests := walk(t, tc.keys, tc.prefix, end, start, tc.limit)
		want := under(tc.keys, tc.prefix)
		if len(seen) != len(want) {
			t.Fatalf("%s: visited %d keys, want %d", tc.name, len(seen), len(want))
		}
		ratio := float64(counted) / float64(len(want))
		t.Logf("%s: %d keys, page %d: etcd counts %.2f× the keys in %d requests (%.0f keys a request; %d pages at least)",
			tc.name, len(want), tc.limit, ratio, requests, float64(len(want))/float64(requests), (len(want)+int(tc.limit)-1)/int(tc.limit))
		if ratio > tc.most {
			t.Errorf("%s: etcd counts %.2f× the keys read, want at most %.1f×", tc.name, ratio, tc.most)
		}
		if pages := (len(want) + int(tc.limit) - 1) / int(tc.limit); requests > 8*pages+200 {
			t.Errorf("%s: %d requests for %d pages' worth of keys", tc.name, requests, pages)
		}
	}
}

func few() []string {
	var keys []string
	for _, ns := range []string{"default", "kube-system", "monitoring"} {
		for i := 0; i < 15000; i++ {
			keys = append(keys, fmt.Sprintf("/registry/pods/%s/pod-%d", ns, i))
		}
	}
	sort.Strings(keys)
	return keys
}
