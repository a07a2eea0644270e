// Package playground runs a real local etcd cluster: each member is its own
// child process (the etcdmedic binary, or a test binary, re-executed to run the
// linked etcd server code; or a given etcd release binary), on loopback ports.
// It is both the embedded default for trying the tool and the test harness:
// tests pause (SIGSTOP), resume, kill and restart single members.
package playground

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"sigs.k8s.io/yaml"

	"github.com/etcdmedic/etcdmedic/internal/etcdbin"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// Options configure a playground cluster.
type Options struct {
	Members int // default 3
	// Dir holds every member's data; a temporary directory (removed on Stop) when empty.
	Dir string
	// BasePort: member i listens for clients on BasePort+2i and peers on
	// BasePort+2i+1. Zero picks free ports.
	BasePort   int
	QuotaBytes int64
	TLS        bool
	// EtcdBinary runs this etcd release binary for every member instead of the
	// linked server code (compatibility matrix). Where no server is linked
	// (SetMemberRunner never called), the etcd on PATH.
	EtcdBinary string
	// Config adds or overrides etcd config-file keys for every member
	// (e.g. "feature-gates", "auto-compaction-retention").
	Config map[string]any
	// StartTimeout bounds the wait for the cluster to elect a leader. Default 60 s.
	StartTimeout time.Duration
	// Token is the initial cluster token. Default "etcdmedic-playground".
	Token string
	// OnExit, when set, hears of every member process that ends without
	// Stop or Kill asking it to (a crash, a kill from outside). It is called
	// from a goroutine of its own.
	OnExit func(MemberExit)
}

// Cluster is a running playground.
type Cluster struct {
	opts    Options
	dir     string
	tempDir bool
	tls     *TLSFiles
	token   string

	mu      sync.Mutex
	members []*Member
}

// Start launches the members and waits until every one answers and a leader exists.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Members <= 0 {
		opts.Members = 3
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	if opts.Token == "" {
		opts.Token = "etcdmedic-playground"
	}
	if opts.EtcdBinary != "" || memberRunner == nil {
		// A build without the etcd server (-tags slim) runs etcd's own:
		// beside this binary (the release archive ships it), else on PATH.
		bin, err := etcdbin.Find(etcdbin.Need{Name: "etcd", Flag: "--etcd-binary", For: "playground members"}, opts.EtcdBinary)
		if err != nil {
			return nil, fmt.Errorf("playground: %w", err)
		}
		opts.EtcdBinary = bin
	}
	c := &Cluster{opts: opts, dir: opts.Dir, token: opts.Token}
	// Ports first: a taken one is the commonest failure (a playground already
	// running), and nothing is created before it is known.
	ports, err := c.ports(2 * opts.Members)
	if err != nil {
		return nil, err
	}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "etcdmedic-playground-")
		if err != nil {
			return nil, err
		}
		c.dir, c.tempDir = d, true
	} else if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, err
	}
	if opts.TLS {
		files, err := generateTLS(filepath.Join(c.dir, "pki"))
		if err != nil {
			c.Stop()
			return nil, fmt.Errorf("playground: generate certificates: %w", err)
		}
		c.tls = files
	}
	for i := 0; i < opts.Members; i++ {
		c.members = append(c.members, c.newMember(fmt.Sprintf("m%d", i+1), ports[2*i], ports[2*i+1]))
	}
	var initial []string
	for _, m := range c.members {
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	for _, m := range c.members {
		if err := m.writeConfig(strings.Join(initial, ","), "new"); err != nil {
			c.Stop()
			return nil, err
		}
		if err := m.start(); err != nil {
			c.Stop()
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) ports(n int) ([]int, error) {
	if c.opts.BasePort > 0 {
		out := make([]int, n)
		for i := range out {
			out[i] = c.opts.BasePort + i
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", out[i]))
			if err != nil {
				return nil, fault.New(fault.Invalid, fmt.Sprintf("playground: port %d is taken (another playground or etcd running?): pass another --base-port, or --base-port 0 for free ports", out[i]))
			}
			l.Close()
		}
		return out, nil
	}
	return freePorts(n)
}

// freePorts asks the kernel for n free loopback ports. They are released
// before the members bind them; the window is small and tests use fresh ones.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("playground: find a free port: %w", err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func (c *Cluster) scheme() string {
	if c.tls != nil {
		return "https"
	}
	return "http"
}

// Dir is where the members keep their data, configs and logs.
func (c *Cluster) Dir() string { return c.dir }

// TLS returns the certificate files of a --tls playground, or nil.
func (c *Cluster) TLS() *TLSFiles { return c.tls }

// Members returns the members in start order (learners added later come last).
func (c *Cluster) Members() []*Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Member(nil), c.members...)
}

// Member returns the i-th member (0-based).
func (c *Cluster) Member(i int) *Member { return c.Members()[i] }

// Endpoints lists every member's client URL.
func (c *Cluster) Endpoints() []string {
	var out []string
	for _, m := range c.Members() {
		out = append(out, m.ClientURL)
	}
	return out
}

// ClientTLS is the client-side TLS config for a --tls playground (nil otherwise).
func (c *Cluster) ClientTLS() (*tls.Config, error) {
	if c.tls == nil {
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(c.tls.ClientCert, c.tls.ClientKey)
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(c.tls.CA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// Client returns a new client over the given endpoints (all members when none given).
func (c *Cluster) Client(endpoints ...string) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		endpoints = c.Endpoints()
	}
	tc, err := c.ClientTLS()
	if err != nil {
		return nil, err
	}
	return clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 2 * time.Second,
		TLS:         tc,
		Logger:      zap.NewNop(),
	})
}

// WaitReady waits until every running member answers Status and they agree on a leader.
func (c *Cluster) WaitReady(ctx context.Context) error {
	for {
		err := c.ready(ctx)
		if err == nil {
			return nil
		}
		for _, m := range c.Members() {
			if exited, why := m.exited(); exited {
				return fmt.Errorf("playground: member %s exited: %s%s", m.Name, why, m.exitCause())
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("playground: cluster not ready: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) ready(ctx context.Context) error {
	var leader uint64
	for _, m := range c.Members() {
		if !m.Running() {
			continue
		}
		// Not listening yet: say so now. A gRPC client dialled too early
		// waits out its reconnect backoff (1 s) before it tries again.
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(strings.TrimPrefix(m.ClientURL, "https://"), "http://"), time.Second)
		if err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
		conn.Close()
		cli, err := c.Client(m.ClientURL)
		if err != nil {
			return err
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := cli.Status(sctx, m.ClientURL)
		cancel()
		cli.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
		if st.Leader == 0 {
			return fmt.Errorf("%s: no leader yet", m.Name)
		}
		if leader != 0 && st.Leader != leader {
			return fmt.Errorf("members disagree on the leader")
		}
		leader = st.Leader
		m.setID(st.Header.MemberId)
	}
	return nil
}

// Leader returns the member that is currently leader.
func (c *Cluster) Leader(ctx context.Context) (*Member, error) {
	for _, m := range c.Members() {
		if !m.Running() || m.Paused() {
			continue
		}
		cli, err := c.Client(m.ClientURL)
		if err != nil {
			return nil, err
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := cli.Status(sctx, m.ClientURL)
		cancel()
		cli.Close()
		if err != nil || st.Leader == 0 {
			continue
		}
		for _, cand := range c.Members() {
			if cand.ID() == st.Leader {
				return cand, nil
			}
		}
	}
	return nil, errors.New("playground: no leader")
}

// AddLearner adds a new member as a learner and starts it.
func (c *Cluster) AddLearner(ctx context.Context) (*Member, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	m := c.newMember(fmt.Sprintf("m%d", len(c.Members())+1), ports[0], ports[1])
	cli, err := c.Client()
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	// etcd refuses membership changes ("unhealthy cluster") until every member
	// has been connected for a few seconds; a fresh playground needs that wait.
	var resp *clientv3.MemberAddResponse
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err = cli.MemberAddAsLearner(actx, []string{m.PeerURL})
		cancel()
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "unhealthy cluster") || ctx.Err() != nil {
			return nil, fmt.Errorf("playground: add learner: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("playground: add learner: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
	var initial []string
	for _, pm := range resp.Members {
		name := pm.Name
		if pm.ID == resp.Member.ID {
			name = m.Name
		}
		for _, u := range pm.PeerURLs {
			initial = append(initial, name+"="+u)
		}
	}
	m.setID(resp.Member.ID)
	c.mu.Lock()
	c.members = append(c.members, m)
	c.mu.Unlock()
	if err := m.writeConfig(strings.Join(initial, ","), "existing"); err != nil {
		return nil, err
	}
	if err := m.start(); err != nil {
		return nil, err
	}
	return m, c.WaitReady(ctx)
}

// Stop stops every member (resuming paused ones first so they can exit) and
// removes a temporary data directory.
func (c *Cluster) Stop() error {
	var errs []error
	for _, m := range c.Members() {
		if err := m.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.tempDir {
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Cluster) newMember(name string, clientPort, peerPort int) *Member {
	host := "127.0.0.1"
	return &Member{
		Name:      name,
		ClientURL: fmt.Sprintf("%s://%s:%d", c.scheme(), host, clientPort),
		PeerURL:   fmt.Sprintf("%s://%s:%d", c.scheme(), host, peerPort),
		Dir:       filepath.Join(c.dir, name),
		cluster:   c,
	}
}

func (m *Member) writeConfig(initialCluster, state string) error {
	c := m.cluster
	if err := os.MkdirAll(m.Dir, 0o700); err != nil {
		return err
	}
	cfg := map[string]any{
		"name":                        m.Name,
		"data-dir":                    filepath.Join(m.Dir, "data"),
		"listen-client-urls":          m.ClientURL,
		"advertise-client-urls":       m.ClientURL,
		"listen-peer-urls":            m.PeerURL,
		"initial-advertise-peer-urls": m.PeerURL,
		"initial-cluster":             initialCluster,
		"initial-cluster-state":       state,
		"initial-cluster-token":       c.token,
		"logger":                      "zap",
		"log-level":                   "warn",
		"log-outputs":                 []string{filepath.Join(m.Dir, "etcd.log")},
		// Playground data is throwaway and the machine is shared: keep
		// elections calm under CPU contention from parallel tests.
		"heartbeat-interval": 200,
		"election-timeout":   2000,
	}
	if c.opts.QuotaBytes != 0 {
		cfg["quota-backend-bytes"] = c.opts.QuotaBytes
	}
	if c.tls != nil {
		sec := map[string]any{
			"cert-file":        c.tls.ServerCert,
			"key-file":         c.tls.ServerKey,
			"trusted-ca-file":  c.tls.CA,
			"client-cert-auth": true,
		}
		cfg["client-transport-security"] = sec
		cfg["peer-transport-security"] = sec
	}
	for k, v := range c.opts.Config {
		cfg[k] = v
	}
	m.config = cfg
	return m.saveConfig()
}

func (m *Member) saveConfig() error {
	b, err := yaml.Marshal(m.config)
	if err != nil {
		return err
	}
	m.configPath = filepath.Join(m.Dir, "etcd.conf.yaml")
	return os.WriteFile(m.configPath, b, 0o600)
}
