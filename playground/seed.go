package playground

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/etcdmedic/etcdmedic/internal/kube"
)

// SeedOptions shape Kubernetes-like data written the way kube-apiserver
// stores it: protobuf objects in the k8s\x00 envelope under /registry/....
type SeedOptions struct {
	Pods, ConfigMaps, Events, Leases int
	Namespaces                       int // default 10; pods are skewed towards the first ones
	Nodes                            int // default 5
	// Padding makes values realistic in size: bytes of annotation per pod and
	// configmap, of message per event.
	PodPadding, ConfigMapPadding, EventPadding int
	Prefix                                     string        // default "/registry"
	Now                                        time.Time     // default time.Now()
	AgeSpread                                  time.Duration // creation times spread back from Now; default 30 days
	RandSeed                                   int64
	Workers                                    int // concurrent writers; default 4
}

// DefaultSeed is the data the playground's --seed writes: a small cluster's worth.
func DefaultSeed() SeedOptions {
	return SeedOptions{
		Pods: 3000, ConfigMaps: 600, Events: 6000, Leases: 50,
		PodPadding: 1200, ConfigMapPadding: 2000, EventPadding: 600,
	}
}

// SeedResult counts what was written.
type SeedResult struct {
	Keys     int
	Bytes    int64
	Phases   map[corev1.PodPhase]int
	Revision int64
}

// maxTxnOps is etcd's default --max-txn-ops.
const maxTxnOps = 128

// PodPhaseFor is the deterministic phase of seeded pod i: 50 % Running,
// 25 % Succeeded, 15 % Failed, 10 % Pending.
func PodPhaseFor(i int) corev1.PodPhase {
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

// Seed writes the data in transactions of at most 128 puts.
func Seed(ctx context.Context, cli *clientv3.Client, o SeedOptions) (SeedResult, error) {
	if o.Namespaces <= 0 {
		o.Namespaces = 10
	}
	if o.Nodes <= 0 {
		o.Nodes = 5
	}
	if o.Prefix == "" {
		o.Prefix = "/registry"
	}
	o.Prefix = strings.TrimSuffix(o.Prefix, "/")
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.AgeSpread <= 0 {
		o.AgeSpread = 30 * 24 * time.Hour
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	res := SeedResult{Phases: map[corev1.PodPhase]int{}}
	rng := rand.New(rand.NewSource(o.RandSeed))
	ns := func() string {
		// Skewed: a few namespaces hold most pods, as in real clusters.
		f := rng.Float64()
		return fmt.Sprintf("ns-%02d", int(f*f*float64(o.Namespaces)))
	}
	created := func() metav1.Time {
		return metav1.NewTime(o.Now.Add(-time.Duration(rng.Int63n(int64(o.AgeSpread)))).Truncate(time.Second))
	}

	type kv struct {
		key string
		val []byte
	}
	batches := make(chan []kv, o.Workers*2)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		lastRev  int64
	)
	for w := 0; w < o.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range batches {
				ops := make([]clientv3.Op, len(batch))
				for i, e := range batch {
					ops[i] = clientv3.OpPut(e.key, string(e.val))
				}
				tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				resp, err := cli.Txn(tctx).Then(ops...).Commit()
				cancel()
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("seed: %w", err)
				}
				if err == nil && resp.Header.Revision > lastRev {
					lastRev = resp.Header.Revision
				}
				mu.Unlock()
			}
		}()
	}
	var batch []kv
	emit := func(key string, obj kube.Object) error {
		val, err := kube.Encode(obj)
		if err != nil {
			return err
		}
		res.Keys++
		res.Bytes += int64(len(key) + len(val))
		batch = append(batch, kv{key, val})
		if len(batch) == maxTxnOps {
			select {
			case batches <- batch:
			case <-ctx.Done():
				return ctx.Err()
			}
			batch = nil
		}
		mu.Lock()
		err = firstErr
		mu.Unlock()
		return err
	}
	err := func() error {
		for i := 0; i < o.Pods; i++ {
			pod := seedPod(i, ns(), created(), o, rng)
			res.Phases[pod.Status.Phase]++
			if err := emit(fmt.Sprintf("%s/pods/%s/%s", o.Prefix, pod.Namespace, pod.Name), pod); err != nil {
				return err
			}
		}
		for i := 0; i < o.ConfigMaps; i++ {
			cm := &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%06d", i), Namespace: ns(), UID: uid(rng), CreationTimestamp: created()},
				Data:       map[string]string{"config.yaml": padding(o.ConfigMapPadding, i)},
			}
			if err := emit(fmt.Sprintf("%s/configmaps/%s/%s", o.Prefix, cm.Namespace, cm.Name), cm); err != nil {
				return err
			}
		}
		for i := 0; i < o.Events; i++ {
			n := ns()
			ev := &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("pod-%06d.%x", i%max(o.Pods, 1), rng.Int63()), Namespace: n, UID: uid(rng), CreationTimestamp: created()},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: n, Name: fmt.Sprintf("pod-%06d", i%max(o.Pods, 1))},
				Reason:         "BackOff",
				Message:        "Back-off restarting failed container " + padding(o.EventPadding, i),
				Type:           corev1.EventTypeWarning,
				Count:          int32(1 + i%7),
			}
			if err := emit(fmt.Sprintf("%s/events/%s/%s", o.Prefix, ev.Namespace, ev.Name), ev); err != nil {
				return err
			}
		}
		for i := 0; i < o.Leases; i++ {
			holder := fmt.Sprintf("node-%02d", i%o.Nodes)
			l := &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: holder + fmt.Sprintf("-%d", i), Namespace: "kube-node-lease", UID: uid(rng), CreationTimestamp: created()},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder},
			}
			if err := emit(fmt.Sprintf("%s/leases/%s/%s", o.Prefix, l.Namespace, l.Name), l); err != nil {
				return err
			}
		}
		return nil
	}()
	if err == nil && len(batch) > 0 {
		batches <- batch
	}
	close(batches)
	wg.Wait()
	if err == nil {
		err = firstErr
	}
	res.Revision = lastRev
	return res, err
}

func seedPod(i int, namespace string, created metav1.Time, o SeedOptions, rng *rand.Rand) *corev1.Pod {
	phase := PodPhaseFor(i)
	app := fmt.Sprintf("app-%d", i%7)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:              fmt.Sprintf("pod-%06d", i),
			Namespace:         namespace,
			UID:               uid(rng),
			CreationTimestamp: created,
			Labels:            map[string]string{"app": app, "tier": []string{"web", "batch", "ci-runner"}[i%3]},
			Annotations:       map[string]string{"etcdmedic.io/padding": padding(o.PodPadding, i)},
		},
		Spec: corev1.PodSpec{
			NodeName:   fmt.Sprintf("node-%02d", i%o.Nodes),
			Containers: []corev1.Container{{Name: "main", Image: "registry.example/" + app + ":1.0"}},
		},
		Status: corev1.PodStatus{Phase: phase, StartTime: &created},
	}
	switch i % 3 {
	case 0:
		pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: app + "-rs", UID: uid(rng)}}
	case 1:
		pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: app + "-job", UID: uid(rng)}}
	}
	return pod
}

func uid(rng *rand.Rand) types.UID {
	return types.UID(fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", rng.Uint32(), rng.Intn(1<<16), rng.Intn(1<<16), rng.Intn(1<<16), rng.Int63n(1<<48)))
}

// padding returns n bytes that do not compress to nothing, so sizes stay honest.
func padding(n, salt int) string {
	if n <= 0 {
		return ""
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	x := uint32(salt*2654435761 + 1)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = alphabet[x%uint32(len(alphabet))]
	}
	return string(b)
}

// FragmentResult says what Fragment removed.
type FragmentResult struct {
	Deleted     int
	CompactedAt int64
}

// Fragment makes defragmentation worth doing: it deletes every event and every
// other configmap (one key per delete, as an apiserver would), then compacts
// at the current revision so that the freed pages become free space in the
// database file instead of history.
func Fragment(ctx context.Context, cli *clientv3.Client, prefix string) (FragmentResult, error) {
	if prefix == "" {
		prefix = "/registry"
	}
	prefix = strings.TrimSuffix(prefix, "/")
	var res FragmentResult
	for _, r := range []struct {
		resource string
		every    int
	}{{"events", 1}, {"configmaps", 2}} {
		keys, err := listKeys(ctx, cli, prefix+"/"+r.resource+"/")
		if err != nil {
			return res, err
		}
		var ops []clientv3.Op
		flush := func() error {
			if len(ops) == 0 {
				return nil
			}
			tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			_, err := cli.Txn(tctx).Then(ops...).Commit()
			ops = ops[:0]
			return err
		}
		for i, k := range keys {
			if i%r.every != 0 {
				continue
			}
			ops = append(ops, clientv3.OpDelete(k))
			res.Deleted++
			if len(ops) == maxTxnOps {
				if err := flush(); err != nil {
					return res, fmt.Errorf("fragment: %w", err)
				}
			}
		}
		if err := flush(); err != nil {
			return res, fmt.Errorf("fragment: %w", err)
		}
	}
	gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	resp, err := cli.Get(gctx, "/", clientv3.WithCountOnly())
	cancel()
	if err != nil {
		return res, fmt.Errorf("fragment: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := cli.Compact(cctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		return res, fmt.Errorf("fragment: compact: %w", err)
	}
	res.CompactedAt = resp.Header.Revision
	return res, nil
}

// listKeys pages through a prefix reading keys only.
func listKeys(ctx context.Context, cli *clientv3.Client, prefix string) ([]string, error) {
	var keys []string
	start, end := prefix, clientv3.GetPrefixRangeEnd(prefix)
	for {
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := cli.Get(gctx, start, clientv3.WithRange(end), clientv3.WithKeysOnly(), clientv3.WithLimit(1000))
		cancel()
		if err != nil {
			return nil, err
		}
		for _, kv := range resp.Kvs {
			keys = append(keys, string(kv.Key))
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return keys, nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
