package inventory_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/inventory"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestMain(m *testing.M) {
	playground.RunMemberIfRequested()
	os.Exit(m.Run())
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct{ key, resource, namespace, prefix string }{
		{"/registry/pods/kube-system/etcd-cp1", "pods", "kube-system", ""},
		{"/registry/namespaces/default", "namespaces", "", ""},
		{"/registry/apiregistration.k8s.io/apiservices/v1.apps", "apiregistration.k8s.io/apiservices", "", ""},
		{"/registry/cilium.io/ciliumendpoints/ns1/ep", "cilium.io/ciliumendpoints", "ns1", ""},
		{"/registry/masterleases/10.0.0.1", "masterleases", "", ""},
		{"/registry/services/specs/default/kubernetes", "services/specs", "default", ""},
		{"/registry/services/endpoints/kube-system/kube-dns", "services/endpoints", "kube-system", ""},
		{"/registry/apiextensions.k8s.io/customresourcedefinitions", "apiextensions.k8s.io/customresourcedefinitions", "", ""},
		{"/registry/", "", "", ""},
		{"/calico/ipam/v2/host/n1", "", "", "/calico"},
		{"/etcdmedic", "", "", "/etcdmedic"},
		{"compact_rev_key", "", "", "(no prefix)"},
		{"foo/bar", "", "", "foo"},
	} {
		r, ns, p := inventory.Classify(tc.key)
		if r != tc.resource || ns != tc.namespace || p != tc.prefix {
			t.Errorf("Classify(%q) = %q, %q, %q; want %q, %q, %q", tc.key, r, ns, p, tc.resource, tc.namespace, tc.prefix)
		}
	}
}

// countByListing is the independent truth: every key under prefix, read in
// one plain range, grouped by the path segment after the prefix.
func countByListing(t *testing.T, cli *clientv3.Client, prefix string, segment int) map[string]int64 {
	t.Helper()
	resp, err := cli.Get(context.Background(), prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, kv := range resp.Kvs {
		parts := strings.Split(strings.TrimPrefix(string(kv.Key), prefix), "/")
		out[parts[segment]]++
	}
	return out
}

func TestInventoryCountsAtOnePinnedRevision(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 900, ConfigMaps: 150, Events: 400, Leases: 20, PodPadding: 300})
	cli := playgroundtest.Client(t, c)
	ctx := context.Background()
	for _, kv := range [][2]string{
		{"/registry/apiregistration.k8s.io/apiservices/v1.apps", `{"kind":"APIService"}`},
		{"/registry/apiregistration.k8s.io/apiservices/v1.batch", `{"kind":"APIService"}`},
		{"/calico/ipam/v2/host/n1", strings.Repeat("c", 5000)},
		{"/calico/ipam/v2/host/n2", "x"},
		{"compact_rev_key", "1"},
	} {
		if _, err := cli.Put(ctx, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	resources := countByListing(t, cli, "/registry/", 0)
	podNamespaces := countByListing(t, cli, "/registry/pods/", 0)

	// Keys written while the inventory pages through must not show up: all
	// pages read the revision of the first.
	written := 0
	r, err := inventory.Read(ctx, playgroundtest.Open(t, c), inventory.Options{PageSize: 50, TopN: 3, OnPage: func(inventory.Progress) {
		cli.Put(ctx, fmt.Sprintf("/registry/pods/late/pod-%d", written), "x")
		written++
	}})
	if err != nil {
		t.Fatal(err)
	}
	if written < 20 {
		t.Fatalf("only %d pages: the test wants many", written)
	}
	want := map[string]int64{"pods": 900, "configmaps": 150, "events": 400, "leases": 20, "apiregistration.k8s.io/apiservices": 2}
	for _, ru := range r.Resources {
		if ru.Keys != want[ru.Resource] {
			t.Errorf("resource %s: %d keys, want %d", ru.Resource, ru.Keys, want[ru.Resource])
		}
		if ru.Resource != "apiregistration.k8s.io/apiservices" && ru.Keys != resources[ru.Resource] {
			t.Errorf("resource %s: %d keys, etcd lists %d", ru.Resource, ru.Keys, resources[ru.Resource])
		}
		delete(want, ru.Resource)
		if ru.Resource == "pods" {
			if len(ru.TopNamespaces) != 3 {
				t.Fatalf("%d top namespaces, want 3", len(ru.TopNamespaces))
			}
			for i, ns := range ru.TopNamespaces {
				if ns.Keys != podNamespaces[ns.Namespace] {
					t.Errorf("pods in %s: %d, etcd lists %d", ns.Namespace, ns.Keys, podNamespaces[ns.Namespace])
				}
				if i > 0 && ns.Bytes > ru.TopNamespaces[i-1].Bytes {
					t.Errorf("top namespaces not sorted by bytes: %+v", ru.TopNamespaces)
				}
			}
		}
	}
	if len(want) > 0 {
		t.Fatalf("resources missing: %v", want)
	}
	if r.Keys != 900+150+400+20+5 {
		t.Fatalf("%d keys, want %d: pages read a moving keyspace", r.Keys, 900+150+400+20+5)
	}
	prefixes := map[string]int64{}
	for _, p := range r.Prefixes {
		prefixes[p.Prefix] = p.Keys
	}
	if prefixes["/calico"] != 2 || prefixes["(no prefix)"] != 1 {
		t.Fatalf("prefixes = %v", prefixes)
	}
	if len(r.LargestKeys) != 3 || r.LargestKeys[0].Key != "/calico/ipam/v2/host/n1" {
		t.Fatalf("largest keys = %+v, want the 5000-byte calico key first", r.LargestKeys)
	}
	first, err := cli.Get(ctx, "x", clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if r.Revision >= first.Header.Revision {
		t.Fatalf("read at revision %d, but the writes during the read ended at %d: not pinned", r.Revision, first.Header.Revision)
	}

	// Keys only: the same counts, only key bytes.
	ko, err := inventory.Read(ctx, playgroundtest.Open(t, c), inventory.Options{PageSize: 200, KeysOnly: true, Serializable: true})
	if err != nil {
		t.Fatal(err)
	}
	if ko.Keys != r.Keys+int64(written) {
		t.Fatalf("keys-only counted %d, want %d", ko.Keys, r.Keys+int64(written))
	}
	if ko.Bytes >= r.Bytes/4 {
		t.Fatalf("keys-only bytes %d: values were fetched (full read %d)", ko.Bytes, r.Bytes)
	}
}

func TestInventoryPacing(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 100})
	start := time.Now()
	r, err := inventory.Read(context.Background(), playgroundtest.Open(t, c), inventory.Options{PageSize: 10, MaxRPS: 20})
	if err != nil {
		t.Fatal(err)
	}
	// 11 pages at 20 per second need at least 10 intervals of 50 ms.
	if took := time.Since(start); r.Pages < 10 || took < 450*time.Millisecond {
		t.Fatalf("%d pages in %s: --max-rps 20 not honoured", r.Pages, took)
	}
}
