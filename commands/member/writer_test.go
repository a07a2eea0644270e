package member_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/health" // client-side health checking
	"google.golang.org/grpc/peer"
)

// healthChecked balances over every endpoint, skipping a member whose gRPC
// health service says NOT_SERVING, and follows the member list (as a client
// of a cluster being resized must).
const healthChecked = `{"loadBalancingConfig":[{"round_robin":{}}],"healthCheckConfig":{"serviceName":""}}`

// writeTimeout is the writer's deadline per put.
const writeTimeout = 5 * time.Second

// writer puts one key every 20 ms (50 puts/s) through an all-endpoints,
// health-checked client, and keeps, for each put that failed, when it was
// sent, how long it took, which member served it and the error.
type writer struct {
	cli  *clientv3.Client
	stop chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	ok     int
	failed []failedPut
}

type failedPut struct {
	At   time.Time
	Took time.Duration
	Peer string
	Err  error
}

func (f failedPut) String() string {
	return fmt.Sprintf("%s (+%.2fs) on %s: %v", f.At.Format("15:04:05.000"), f.Took.Seconds(), f.Peer, f.Err)
}

func startWriter(t testing.TB, prefix string, endpoints []string) *writer {
	t.Helper()
	// The member that served each put, read back by the caller through
	// grpc.Peer: the interceptor asks gRPC for it on every unary call.
	servedBy := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if p, ok := ctx.Value(peerKey{}).(*peer.Peer); ok {
			opts = append(opts, grpc.Peer(p))
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: endpoints, DialTimeout: 2 * time.Second, AutoSyncInterval: 500 * time.Millisecond, Logger: zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithDisableServiceConfig(), grpc.WithDefaultServiceConfig(healthChecked), grpc.WithChainUnaryInterceptor(servedBy)},
	})
	if err != nil {
		t.Fatal(err)
	}
	w := &writer{cli: cli, stop: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			p := &peer.Peer{}
			ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), peerKey{}, p), writeTimeout)
			start := time.Now()
			_, err := cli.Put(ctx, fmt.Sprintf("%s%06d", prefix, i), "v")
			cancel()
			w.mu.Lock()
			if err != nil {
				addr := "?"
				if p.Addr != nil {
					addr = p.Addr.String()
				}
				w.failed = append(w.failed, failedPut{At: start, Took: time.Since(start), Peer: addr, Err: err})
			} else {
				w.ok++
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.halt(); cli.Close() })
	return w
}

type peerKey struct{}

// halt stops writing and waits for the put in flight.
func (w *writer) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

func (w *writer) counts() (ok int, failed []failedPut) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ok, append([]failedPut{}, w.failed...)
}

// describeFailures lists each failed put with what was going on when it
// was sent: the replace step running, or a control's leader move.
func describeFailures(fs []failedPut, runs []*replaceRun, moves []window) string {
	var lines []string
	for _, f := range fs {
		lines = append(lines, f.String()+" — "+during(f.At, runs, moves))
	}
	return strings.Join(lines, "\n")
}

func during(at time.Time, runs []*replaceRun, moves []window) string {
	for _, r := range runs {
		if s := r.stepAt(at); s != "" {
			return fmt.Sprintf("during %s of replace %s→%s", s, r.Old, r.Name)
		}
	}
	for _, m := range moves {
		if m.has(at) {
			return "during " + m.what
		}
	}
	return "with nothing going on"
}

// window is a span of time something ran in.
type window struct {
	what       string
	start, end time.Time
}

// has: a put sent then may have met it (a put reaches the leader some
// milliseconds after it is sent).
func (w window) has(t time.Time) bool {
	return !t.Before(w.start.Add(-100*time.Millisecond)) && !t.After(w.end.Add(100*time.Millisecond))
}
