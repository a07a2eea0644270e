package breakglass

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/etcdmedic/etcdmedic/internal/kube"
	"github.com/etcdmedic/etcdmedic/playground"
)

// purgeNow is the seeded cluster's "now", so ages are deterministic.
var purgeNow = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// purgeFilter is what the purge tests delete: terminal pods that are not
// web-tier and older than ten days.
func purgeFilter(t testing.TB) PodFilter {
	phases, _ := ParsePhases("Succeeded,Failed")
	sel, err := ParseSelector("tier!=web")
	if err != nil {
		t.Fatal(err)
	}
	return PodFilter{Phases: phases, Selector: sel, OlderThan: 10 * 24 * time.Hour, Now: purgeNow}
}

// seedPurge writes pods plus decoys that a wrong prefix, a range delete, a
// lax key check or a guessing decoder would destroy, and returns every key
// and value in etcd, and the keys the filter must select, computed from the
// seeding rules rather than from the filter code.
func seedPurge(t testing.TB, cli *clientv3.Client, pods int) (all map[string]string, want map[string]bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if _, err := playground.Seed(ctx, cli, playground.SeedOptions{Pods: pods, ConfigMaps: 200, Namespaces: 12,
		PodPadding: 32, ConfigMapPadding: 64, Now: purgeNow, RandSeed: 7, Workers: 4}); err != nil {
		t.Fatal(err)
	}
	terminal := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns-00", Labels: map[string]string{"tier": "batch"},
			CreationTimestamp: metav1.NewTime(purgeNow.Add(-20 * 24 * time.Hour))}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}
	}
	enc := func(p kube.Object) string {
		b, err := kube.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	decoys := map[string]string{
		"/registry/podtemplates/ns-00/decoy":          enc(terminal("decoy")),
		"/registry/pods-extra/ns-00/decoy":            enc(terminal("decoy")),
		"/registry/podschedulingcontexts/ns-00/decoy": enc(terminal("decoy")),
		"/registry/pods":                              enc(terminal("decoy")),
		"/registry/pods/ns-00":                        enc(terminal("ns-00")),
		"/registry/pods/ns-00/too/deep":               enc(terminal("deep")),
		"/registry/pods/ns-00/name-mismatch":          enc(terminal("other-name")),
		"/registry/pods/ns-00/encrypted":              "k8s:enc:aescbc:v1:key1:" + strings.Repeat("\x9f\x01", 40),
		"/registry/pods/ns-00/garbage":                "\x00\xff garbage \x13\x37",
		"/registry/pods/ns-00/not-a-pod":              enc(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "not-a-pod", Namespace: "ns-00"}}),
		"/other-prefix/pods/ns-00/decoy":              enc(terminal("decoy")),
	}
	for k, v := range decoys {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := cli.Put(pctx, k, v)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	all = map[string]string{}
	want = map[string]bool{}
	for k, v := range dumpAll(t, cli) {
		all[k] = v
		var i int
		var ns string
		if n, _ := fmt.Sscanf(k, "/registry/pods/%5s/pod-%06d", &ns, &i); n != 2 {
			continue
		}
		pod, err := kube.DecodePod([]byte(v))
		if err != nil {
			t.Fatal(err)
		}
		phase := playground.PodPhaseFor(i)
		web := i%3 == 0
		old := purgeNow.Sub(pod.CreationTimestamp.Time) >= 10*24*time.Hour
		if (phase == corev1.PodSucceeded || phase == corev1.PodFailed) && !web && old {
			want[k] = true
		}
	}
	return all, want
}

func dumpAll(t testing.TB, cli *clientv3.Client) map[string]string {
	t.Helper()
	out := map[string]string{}
	key := "\x00"
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		resp, err := cli.Get(ctx, key, clientv3.WithFromKey(), clientv3.WithLimit(5000))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range resp.Kvs {
			out[string(kv.Key)] = string(kv.Value)
		}
		if !resp.More {
			return out
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
