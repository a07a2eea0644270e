// Command benchseed fills an etcd with a keyspace laid out like a real
// cluster's, for scripts/bench-*.sh. Three layouts (-layout):
//
//	longtail  thousands of namespaces with a long tail of sizes (a few hold
//	          thousands of objects, most a handful): namespaced resources of the
//	          core and of API groups (apps/deployments, CRDs such as
//	          cilium.io/ciliumendpoints), cluster-scoped resources (nodes,
//	          namespaces, clusterroles, CRD definitions, apiservices) and a few
//	          non-Kubernetes keys. The default.
//	fewlarge  the same resources in a few large namespaces (-namespaces
//	          defaults to 8 here), each holding tens of thousands of objects.
//	flat      no Kubernetes and no hierarchy: keys like "item-3f9c2a…-000123"
//	          side by side at the top level, as an application using etcd
//	          directly stores them.
//
// With -pods, values under /registry/pods/ are real Pods as kube-apiserver
// stores them (protobuf, padded to about -value-size; 25 % Succeeded, 15 %
// Failed, as the playground seeds them), so breakglass purge-pods has pods to
// match; other values are -value-size bytes of filler. The layout depends only
// on -layout, -keys, -namespaces and -seed.
//
//	go run ./scripts/benchseed -endpoint http://127.0.0.1:2379 -keys 300000 -value-size 1000
//
// It prints the number of keys written (exactly -keys) on stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/etcdmedic/etcdmedic/internal/kube"
)

// namespaced resources and their share of a namespace's objects.
var namespaced = []struct {
	name  string
	share float64
}{
	{"pods", 0.22}, {"events", 0.20}, {"configmaps", 0.10}, {"secrets", 0.10},
	{"serviceaccounts", 0.05}, {"services/specs", 0.04}, {"services/endpoints", 0.04},
	{"discovery.k8s.io/endpointslices", 0.04}, {"apps/deployments", 0.04}, {"apps/replicasets", 0.08},
	{"coordination.k8s.io/leases", 0.02}, {"cilium.io/ciliumendpoints", 0.04},
	{"monitoring.coreos.com/servicemonitors", 0.01}, {"rolebindings", 0.02},
}

func main() {
	endpoint := flag.String("endpoint", "http://127.0.0.1:2379", "etcd client URL")
	keys := flag.Int("keys", 300000, "keys to write")
	valueSize := flag.Int("value-size", 1000, "bytes per value")
	layoutName := flag.String("layout", "longtail", "longtail, fewlarge or flat")
	namespaces := flag.Int("namespaces", 0, "namespaces (default 3000 for longtail, 8 for fewlarge)")
	pods := flag.Bool("pods", false, "values under /registry/pods/ are real protobuf Pods")
	seed := flag.Int64("seed", 1, "layout seed")
	flag.Parse()
	var all []string
	switch *layoutName {
	case "longtail":
		all = kubeLayout(*keys, or(*namespaces, 3000), 1.1, *seed)
	case "fewlarge":
		// A flat weight: the namespaces are of about the same size.
		all = kubeLayout(*keys, or(*namespaces, 8), 0.5, *seed)
	case "flat":
		all = flatLayout(*keys, *seed)
	default:
		fail(fmt.Errorf("-layout %q: want longtail, fewlarge or flat", *layoutName))
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{*endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		fail(err)
	}
	defer cli.Close()
	if err := write(cli, all, *valueSize, *pods); err != nil {
		fail(err)
	}
	fmt.Println(len(all))
}

func or(v, dflt int) int {
	if v > 0 {
		return v
	}
	return dflt
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchseed:", err)
	os.Exit(1)
}

// kubeLayout returns exactly n keys: namespace i holds objects in
// proportion to 1/rank^skew (ranks shuffled), so skew 1.1 is a long tail
// and 0.5 a handful of namespaces of similar size.
func kubeLayout(n, namespaces int, skew float64, seed int64) []string {
	r := rand.New(rand.NewSource(seed))
	out := make([]string, 0, n+namespaces+100)
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	// Cluster-scoped: about 3% of the keys.
	scoped := max(n*3/100, 50)
	for i := 0; i < namespaces; i++ {
		add("/registry/namespaces/ns-%s-%d", word(r), i)
	}
	for i := 0; len(out) < namespaces+scoped; i++ {
		switch i % 6 {
		case 0:
			add("/registry/minions/node-%05d.cluster.example", i/6)
		case 1:
			add("/registry/clusterroles/system:controller:%s-%d", word(r), i/6)
		case 2:
			add("/registry/clusterrolebindings/%s-%d", word(r), i/6)
		case 3:
			add("/registry/apiextensions.k8s.io/customresourcedefinitions/%ss.%s%d.example.com", word(r), word(r), i/6)
		case 4:
			add("/registry/apiregistration.k8s.io/apiservices/v1.%s-%d", word(r), i/6)
		case 5:
			add("/registry/persistentvolumes/pvc-%08x-%d", r.Uint32(), i/6)
		}
	}
	for i := 0; i < 20; i++ {
		add("/calico/ipam/v2/host/node-%03d", i)
	}
	out = append(out, "compact_rev_key")
	nsNames := make([]string, namespaces)
	for i := range nsNames {
		nsNames[i] = strings.TrimPrefix(out[i], "/registry/namespaces/")
	}
	left := n - len(out)
	weights := make([]float64, namespaces)
	var sum float64
	for i := range weights {
		weights[i] = 1 / math.Pow(float64(i+1), skew)
		sum += weights[i]
	}
	r.Shuffle(len(weights), func(i, j int) { weights[i], weights[j] = weights[j], weights[i] })
	per := make([]int, namespaces)
	given := 0
	for i, w := range weights {
		per[i] = int(float64(left) * w / sum)
		given += per[i]
	}
	for i := 0; given < left; i = (i + 1) % namespaces {
		per[i]++
		given++
	}
	for i, ns := range nsNames {
		objs := per[i]
		for j, res := range namespaced {
			k := int(math.Round(float64(objs) * res.share))
			if j == len(namespaced)-1 || k > objs {
				k = objs
			}
			objs -= k
			for o := 0; o < k; o++ {
				add("/registry/%s/%s/%s-%s-%d", res.name, ns, word(r), word(r), o)
			}
		}
	}
	return out[:n]
}

// flatLayout returns n keys with no hierarchy: a random stem (spread over
// the whole keyspace, as hashed ids are) and a serial number.
func flatLayout(n int, seed int64) []string {
	r := rand.New(rand.NewSource(seed))
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("item-%012x-%06d", r.Int63n(1<<48), i)
	}
	return out
}

func word(r *rand.Rand) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 5+r.Intn(6))
	for i := range b {
		b[i] = letters[r.Intn(len(letters))]
	}
	return string(b)
}

// phaseFor is pod i's phase, as the playground seeds them: 50 % Running,
// 25 % Succeeded, 15 % Failed, 10 % Pending.
func phaseFor(i int) corev1.PodPhase {
	switch r := i % 20; {
	case r < 10:
		return corev1.PodRunning
	case r < 15:
		return corev1.PodSucceeded
	case r < 18:
		return corev1.PodFailed
	default:
		return corev1.PodPending
	}
}

// podValue is key's value as kube-apiserver stores a Pod, padded to about size.
func podValue(key string, i, size int) ([]byte, error) {
	parts := strings.Split(strings.TrimPrefix(key, "/registry/pods/"), "/")
	if len(parts) != 2 {
		return nil, fmt.Errorf("pod key %q is not /registry/pods/NS/NAME", key)
	}
	created := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: parts[1], Namespace: parts[0], UID: types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012x", i)),
			CreationTimestamp: created,
			Labels:            map[string]string{"app": fmt.Sprintf("app-%d", i%7)},
		},
		Spec:   corev1.PodSpec{NodeName: fmt.Sprintf("node-%02d", i%50), Containers: []corev1.Container{{Name: "main", Image: "registry.example/app:1.0"}}},
		Status: corev1.PodStatus{Phase: phaseFor(i), StartTime: &created},
	}
	v, err := kube.Encode(pod)
	if err != nil || len(v) >= size {
		return v, err
	}
	pod.Annotations = map[string]string{"etcdmedic.io/padding": strings.Repeat("p", size-len(v))}
	return kube.Encode(pod)
}

// write puts every key in transactions of 100 (etcd's default
// --max-txn-ops is 128) from 8 workers.
func write(cli *clientv3.Client, keys []string, valueSize int, pods bool) error {
	val := strings.Repeat("x", valueSize)
	type batch struct {
		first int
		keys  []string
	}
	work := make(chan batch)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	setErr := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				ops := make([]clientv3.Op, 0, len(b.keys))
				for i, k := range b.keys {
					v := val
					if pods && strings.HasPrefix(k, "/registry/pods/") {
						pv, err := podValue(k, b.first+i, valueSize)
						if err != nil {
							setErr(err)
							continue
						}
						v = string(pv)
					}
					ops = append(ops, clientv3.OpPut(k, v))
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				_, err := cli.Txn(ctx).Then(ops...).Commit()
				cancel()
				if err != nil {
					setErr(fmt.Errorf("write %s…: %w", b.keys[0], err))
				}
			}
		}()
	}
	for i := 0; i < len(keys); i += 100 {
		work <- batch{i, keys[i:min(i+100, len(keys))]}
	}
	close(work)
	wg.Wait()
	return firstErr
}
