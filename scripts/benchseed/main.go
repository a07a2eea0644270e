// Command benchseed fills an etcd with a keyspace laid out like a real
// Kubernetes cluster's, for scripts/bench-*.sh: thousands of namespaces with a
// long tail of sizes (a few hold thousands of objects, most a handful),
// namespaced resources of the core and of API groups (apps/deployments,
// CRDs such as cilium.io/ciliumendpoints), cluster-scoped resources (nodes,
// namespaces, clusterroles, CRD definitions, apiservices) and a few
// non-Kubernetes keys. The layout depends only on -keys and -seed.
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
	namespaces := flag.Int("namespaces", 3000, "namespaces")
	seed := flag.Int64("seed", 1, "layout seed")
	flag.Parse()
	all := layout(*keys, *namespaces, *seed)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{*endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		fail(err)
	}
	defer cli.Close()
	if err := write(cli, all, *valueSize); err != nil {
		fail(err)
	}
	fmt.Println(len(all))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchseed:", err)
	os.Exit(1)
}

// layout returns exactly n keys.
func layout(n, namespaces int, seed int64) []string {
	r := rand.New(rand.NewSource(seed))
	var out []string
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
	// Namespaced objects: a long tail (Zipf-like by rank), shuffled ranks.
	left := n - len(out)
	weights := make([]float64, namespaces)
	var sum float64
	for i := range weights {
		weights[i] = 1 / math.Pow(float64(i+1), 1.1)
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

func word(r *rand.Rand) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 5+r.Intn(6))
	for i := range b {
		b[i] = letters[r.Intn(len(letters))]
	}
	return string(b)
}

// write puts every key in transactions of 100 from 8 workers.
func write(cli *clientv3.Client, keys []string, valueSize int) error {
	val := strings.Repeat("x", valueSize)
	work := make(chan []string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range work {
				ops := make([]clientv3.Op, 0, len(batch))
				for _, k := range batch {
					ops = append(ops, clientv3.OpPut(k, val))
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				_, err := cli.Txn(ctx).Then(ops...).Commit()
				cancel()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("write %s…: %w", batch[0], err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < len(keys); i += 100 {
		work <- keys[i:min(i+100, len(keys))]
	}
	close(work)
	wg.Wait()
	return firstErr
}
