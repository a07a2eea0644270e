package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
)

// Cluster holds connections to one etcd cluster: one client per endpoint, so
// that every RPC goes to the member it names and a hung member only ever costs
// its own deadline.
type Cluster struct {
	Config *Config
	Log    *slog.Logger

	tls  *tls.Config
	http *http.Client

	mu       sync.Mutex
	clients  map[string]*clientv3.Client
	prefetch map[string]*prefetched // by metrics URL, until a probe takes it
	// oneCluster is the cluster ID every configured endpoint was found in
	// (or silent) by a OneCluster check of this run: later member lists of
	// that cluster do not wait for the endpoints again. A hung endpoint
	// would cost every step of a multi-step command its timeout.
	oneCluster uint64
}

// Open validates the configuration and prepares TLS. It does no network I/O.
func Open(cfg *Config, log *slog.Logger) (*Cluster, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tc, err := cfg.TLSConfig()
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		TLSClientConfig: tc,
		// /metrics connects under --dial-timeout as gRPC does: a host that
		// answers nothing must not cost the whole --command-timeout.
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return dialTCP(ctx, dialer, addr)
		},
		TLSHandshakeTimeout: cfg.DialTimeout,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
	}
	return &Cluster{
		Config:  cfg,
		Log:     log,
		tls:     tc,
		http:    &http.Client{Transport: transport},
		clients: map[string]*clientv3.Client{},
	}, nil
}

// Close releases every connection.
func (c *Cluster) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ep, cli := range c.clients {
		cli.Close()
		delete(c.clients, ep)
	}
	c.stopPrefetches()
	c.http.CloseIdleConnections()
}

// HTTPClient is the client for /metrics and /health, with the same TLS settings.
func (c *Cluster) HTTPClient() *http.Client { return c.http }

// Client returns the cached client for exactly one endpoint. Creating it is
// bounded by ctx and the dial timeout (with auth it fetches a token).
func (c *Cluster) Client(ctx context.Context, endpoint string) (*clientv3.Client, error) {
	c.mu.Lock()
	if cli, ok := c.clients[endpoint]; ok {
		c.mu.Unlock()
		// A cached connection that broke (the member died, or restarts)
		// would hold the next RPC until --command-timeout: reconnect now,
		// within --dial-timeout, and say why not.
		if conn := cli.ActiveConnection(); conn.GetState() != connectivity.Ready {
			conn.ResetConnectBackoff()
			if err := c.awaitConnection(ctx, cli, []string{endpoint}); err != nil {
				return nil, err
			}
		}
		return cli, nil
	}
	c.mu.Unlock()

	cli, err := c.connect(ctx, []string{endpoint})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if existing, ok := c.clients[endpoint]; ok {
		cli.Close()
		return existing, nil
	}
	c.clients[endpoint] = cli
	return cli, nil
}

// NewBalancedClient returns a new client over several endpoints, for key-value
// work (reads, purges, locks) that any healthy member may serve. The caller closes it.
func (c *Cluster) NewBalancedClient(ctx context.Context, endpoints []string) (*clientv3.Client, error) {
	return c.connect(ctx, endpoints)
}

// connect creates a client and waits, at most --dial-timeout, until it has a
// connection. gRPC alone would hold the first RPC until --command-timeout and
// then say only "deadline exceeded"; a refused port, an unknown host, a TLS
// mismatch or a peer port fail the connection at once, and diagnose says which.
func (c *Cluster) connect(ctx context.Context, endpoints []string) (*clientv3.Client, error) {
	var dialable, invalid []string
	for _, ep := range endpoints {
		if u, err := url.Parse(ep); err == nil && isReservedInvalid(u.Hostname()) {
			invalid = append(invalid, ep)
			continue
		}
		dialable = append(dialable, ep)
	}
	if len(invalid) > 0 {
		c.Log.Debug("endpoints under .invalid never resolve: left out", "endpoints", invalid)
	}
	if len(dialable) == 0 {
		// Never handed to gRPC, whose resolver would ask a DNS server anyway.
		return nil, c.diagnoseAll(invalid, c.dialTimeoutText())
	}
	if c.Config.User != "" {
		// Authenticating is an RPC, made inside clientv3.New, that waits for a
		// connection until --dial-timeout and then says only "deadline
		// exceeded": first connect without credentials, which fails at once.
		bare, err := c.newClient(ctx, dialable, false)
		if err != nil {
			return nil, c.Config.classify(strings.Join(dialable, ","), err)
		}
		err = c.awaitConnection(ctx, bare, dialable)
		bare.Close()
		if err != nil {
			return nil, err
		}
	}
	cli, err := c.newClient(ctx, dialable, true)
	if err != nil {
		if len(dialable) == 1 {
			return nil, c.fail(dialable[0], err)
		}
		return nil, c.Config.classify(fmt.Sprint(dialable), err)
	}
	if err := c.awaitConnection(ctx, cli, dialable); err != nil {
		cli.Close()
		return nil, err
	}
	return cli, nil
}

// awaitConnection returns once the client's connection is ready, or an error
// saying why it is not, by --dial-timeout. The direct look runs when an
// attempt fails, and otherwise starts early enough to be done by the dial
// timeout; when it finds the endpoint answering (the failure passed), gRPC
// keeps the rest of the dial timeout.
func (c *Cluster) awaitConnection(ctx context.Context, cli *clientv3.Client, endpoints []string) error {
	dctx, cancel := context.WithTimeout(ctx, c.Config.DialTimeout)
	defer cancel()
	conn := cli.ActiveConnection()
	conn.Connect()
	ready := make(chan struct{})
	failed := make(chan struct{}, 1)
	go func() {
		for {
			state := conn.GetState()
			switch state {
			case connectivity.Ready:
				close(ready)
				return
			case connectivity.TransientFailure:
				select {
				case failed <- struct{}{}:
				default:
				}
			}
			if !conn.WaitForStateChange(dctx, state) {
				return
			}
		}
	}()
	lookAt := time.NewTimer(c.Config.DialTimeout - c.diagnoseBudget())
	defer lookAt.Stop()
	var (
		pending chan error // the look under way
		looks   int
	)
	look := func() {
		if pending == nil && looks < 2 {
			looks++
			pending = make(chan error, 1)
			go func(out chan<- error) { out <- c.diagnoseAll(endpoints, c.dialTimeoutText()) }(pending)
		}
	}
	for {
		select {
		case <-ready:
			return nil
		case <-failed:
			look()
		case <-lookAt.C:
			look()
		case err := <-pending:
			pending = nil
			if err != nil {
				return err
			}
		case <-dctx.Done():
			if err := ctx.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("connect to %s: %w", strings.Join(endpoints, ","), err)
			}
			if looks == 0 { // the caller's deadline came first
				look()
			}
			if pending != nil {
				if err := <-pending; err != nil {
					return err
				}
			}
			return fmt.Errorf("%s: %w: no connection within %s", strings.Join(endpoints, ","), ErrUnreachable, c.dialTimeoutText())
		}
	}
}

func (c *Cluster) dialTimeoutText() string { return "--dial-timeout " + c.Config.DialTimeout.String() }

// newClient creates a client whose lifetime is not tied to ctx (it is cached),
// while its creation — which authenticates, and so does I/O — is bounded by ctx.
func (c *Cluster) newClient(ctx context.Context, endpoints []string, auth bool) (*clientv3.Client, error) {
	type result struct {
		cli *clientv3.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		cli, err := c.dial(endpoints, auth)
		done <- result{cli, err}
	}()
	select {
	case r := <-done:
		return r.cli, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.cli != nil {
				r.cli.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

func (c *Cluster) dial(endpoints []string, auth bool) (*clientv3.Client, error) {
	cfg := clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          c.Config.DialTimeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: c.Config.DialTimeout,
		TLS:                  c.tls,
		// Keep the client from logging JSON warnings over our stderr.
		Logger:             zap.NewNop(),
		MaxCallRecvMsgSize: 64 << 20,
		DialOptions:        []grpc.DialOption{},
	}
	if auth {
		cfg.Username, cfg.Password = c.Config.User, c.Config.Password
	}
	return clientv3.New(cfg)
}

// WithCommandTimeout bounds one RPC (or one step) by --command-timeout.
func (c *Cluster) WithCommandTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.Config.CommandTimeout)
}
