package cluster_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/connectivity"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestMain(m *testing.M) {
	playground.RunMemberIfRequested()
	os.Exit(m.Run())
}

// conn is how a test connects: the flags a user would give.
type conn struct {
	endpoint              string
	cacert, cert, key     string
	user                  string // name:password
	insecureSkipTLSVerify bool
	dialTimeout           time.Duration
	commandTimeout        time.Duration
}

// open resolves and opens the configuration as the CLI does.
func (cn conn) open(t *testing.T) *cluster.Cluster {
	t.Helper()
	flags := map[string]bool{"endpoints": true, "dial-timeout": true, "command-timeout": true,
		"cacert": cn.cacert != "", "cert": cn.cert != "", "key": cn.key != "", "insecure-skip-tls-verify": cn.insecureSkipTLSVerify, "user": cn.user != ""}
	cfg, err := cluster.Resolve(cluster.Inputs{
		Endpoints: []string{cn.endpoint}, CACert: cn.cacert, Cert: cn.cert, Key: cn.key,
		InsecureSkipTLSVerify: cn.insecureSkipTLSVerify, User: cn.user,
		DialTimeout: cn.dialTimeout, CommandTimeout: cn.commandTimeout,
		Set:    func(f string) bool { return flags[f] },
		Getenv: playgroundtest.Env(),
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cluster.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// listMembers is the first thing every command does with a cluster.
func (cn conn) listMembers(t *testing.T) (time.Duration, error) {
	t.Helper()
	c := cn.open(t)
	start := time.Now()
	_, err := c.Members(context.Background())
	return time.Since(start), err
}

// expectFailure asserts the error's sentinel, its one line, and that it came
// within limit.
func expectFailure(t *testing.T, took time.Duration, err error, sentinel error, want string, limit time.Duration) {
	t.Helper()
	if err == nil {
		t.Fatalf("connected; want an error saying %q", want)
	}
	t.Logf("after %s: %v", took.Round(time.Millisecond), err)
	if !errors.Is(err, sentinel) {
		t.Errorf("error %q does not wrap %v", err, sentinel)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	if took > limit {
		t.Errorf("took %s, want under %s", took, limit)
	}
}

// closedPort returns a loopback port that was just listening and no longer is.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestRefusedFailsWithinDialTimeout(t *testing.T) {
	cn := conn{endpoint: "http://" + closedPort(t), dialTimeout: 5 * time.Second, commandTimeout: 30 * time.Second}
	took, err := cn.listMembers(t)
	expectFailure(t, took, err, cluster.ErrUnreachable, "connection refused", time.Second)
}

// Authenticating happens while the client is created and used to wait
// for a connection until --dial-timeout.
func TestRefusedWithAuthFailsWithinDialTimeout(t *testing.T) {
	cn := conn{endpoint: "http://" + closedPort(t), user: "root:secret", dialTimeout: 5 * time.Second, commandTimeout: 30 * time.Second}
	took, err := cn.listMembers(t)
	expectFailure(t, took, err, cluster.ErrUnreachable, "connection refused", time.Second)
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("the password is in the error: %v", err)
	}
}

// Off a control-plane node with no flags, the endpoint is the default one and
// "is etcd running" is the wrong question: nothing said etcd runs here. The
// error says what was looked for and what to pass. (The default endpoint is
// swapped for a closed port after resolving, so the test does not depend on
// 127.0.0.1:2379 being free.)
func TestRefusedDefaultEndpointSaysNoneWasFound(t *testing.T) {
	root := t.TempDir()
	cfg, err := cluster.Resolve(cluster.Inputs{Root: root, Manifest: "/etc/kubernetes/manifests/etcd.yaml",
		DialTimeout: 5 * time.Second, Set: func(string) bool { return false }, Getenv: playgroundtest.Env()})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sources["endpoints"] != "default" {
		t.Fatalf("endpoints from %q, want the default", cfg.Sources["endpoints"])
	}
	cfg.Endpoints = []string{"http://" + closedPort(t)}
	c, err := cluster.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Members(context.Background())
	want := "connection refused: no endpoint was given and no kubeadm, rke2, k3s, openshift etcd found under " + root + "; pass --endpoints (or ETCDCTL_ENDPOINTS), or --manifest"
	if !errors.Is(err, cluster.ErrUnreachable) || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v\nwant it to contain %q", err, want)
	}
}

func TestUnknownHostFailsWithinDialTimeout(t *testing.T) {
	cn := conn{endpoint: "http://etcd-0.example.invalid:2379", dialTimeout: 5 * time.Second, commandTimeout: 30 * time.Second}
	took, err := cn.listMembers(t)
	expectFailure(t, took, err, cluster.ErrUnreachable, `cannot resolve host "etcd-0.example.invalid"`, time.Second)
}

// blackhole is a loopback port whose listen queue is full and never drained,
// so the kernel drops every further SYN: a host that answers nothing.
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	// With a backlog of 0, Linux queues one connection and then drops SYNs:
	// connect until one hangs, and require the queue to hold one already,
	// so that a slow connect on a busy machine is not taken for a full queue.
	queued := 0
	for {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			if queued++; queued > 16 {
				t.Fatalf("the listen queue of %s never filled", addr)
			}
			continue
		}
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Fatal(err)
		}
		if queued > 0 {
			return addr
		}
	}
}

func TestNothingAnswersHonoursDialTimeout(t *testing.T) {
	cn := conn{endpoint: "http://" + blackhole(t), dialTimeout: time.Second, commandTimeout: 30 * time.Second}
	took, err := cn.listMembers(t)
	expectFailure(t, took, err, cluster.ErrUnreachable, "no TCP connection within --dial-timeout 1s", 2*time.Second)
	if took < time.Second {
		t.Errorf("gave up after %s, before the 1s dial timeout", took)
	}
	if strings.Contains(err.Error(), "hung") {
		t.Errorf("blames the member for a connection that was never accepted: %v", err)
	}
}

// An HTTP/2 server that takes every request and answers none: the
// connection is accepted and ready, and only the request times out — what an
// overloaded member looks like, and the one case "hung or overloaded" is for
// besides a frozen process.
func TestRequestUnansweredOnAReadyConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Protocols: &protocols,
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }),
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	cn := conn{endpoint: "http://" + l.Addr().String(), dialTimeout: 5 * time.Second, commandTimeout: time.Second}
	took, err := cn.listMembers(t)
	expectFailure(t, took, err, cluster.ErrUnreachable,
		"accepted the connection but did not answer within the deadline (member hung or overloaded)", 2*time.Second)
	if took < time.Second {
		t.Errorf("gave up after %s, before the 1s command timeout", took)
	}
}

func TestMetricsScrapeHonoursDialTimeout(t *testing.T) {
	endpoint := "http://" + blackhole(t)
	c := conn{endpoint: endpoint, dialTimeout: time.Second, commandTimeout: 30 * time.Second}.open(t)
	ctx, cancel := c.WithCommandTimeout(context.Background())
	defer cancel()
	start := time.Now()
	_, err := cluster.ScrapeMetrics(ctx, c.HTTPClient(), endpoint+"/metrics")
	took := time.Since(start)
	t.Logf("after %s: %v", took.Round(time.Millisecond), err)
	if err == nil {
		t.Fatal("scraped a port that answers nothing")
	}
	if took < time.Second || took > 2*time.Second {
		t.Fatalf("gave up after %s, want the 1s dial timeout, not the 30s command timeout", took)
	}
}

// Ports where something else listens: an HTTP/1 server (a proxy, a
// dashboard) and a server that hangs up at once.
func TestNotAnEtcdPort(t *testing.T) {
	web := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(web.Close)
	cn := conn{endpoint: web.URL, dialTimeout: 5 * time.Second, commandTimeout: 30 * time.Second}
	took, err := cn.listMembers(t)
	expectFailure(t, took, err, cluster.ErrUnreachable, "the server speaks HTTP/1 but not gRPC: not an etcd client port", time.Second)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	cn.endpoint = "http://" + l.Addr().String()
	took, err = cn.listMembers(t)
	expectFailure(t, took, err, cluster.ErrUnreachable, "the server closed the connection without answering", time.Second)
}

func hostOf(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func TestPlainMemberFailures(t *testing.T) {
	pg := playgroundtest.Start(t, playground.Options{Members: 1})
	plainMemberFailures(t, pg, false)
	m := pg.Member(0)
	fast := conn{dialTimeout: 5 * time.Second, commandTimeout: 30 * time.Second}

	t.Run("balanced client", func(t *testing.T) {
		cn := fast
		cn.endpoint = m.ClientURL
		c := cn.open(t)
		closed := "http://" + closedPort(t)
		cli, err := c.NewBalancedClient(context.Background(), []string{closed, m.ClientURL})
		if err != nil {
			t.Fatalf("one endpoint of two answers: %v", err)
		}
		cli.Close()

		start := time.Now()
		_, err = c.NewBalancedClient(context.Background(), []string{closed, m.PeerURL})
		expectFailure(t, time.Since(start), err, cluster.ErrUnreachable, closed+": unreachable: connection refused", time.Second)
		if !strings.Contains(err.Error(), m.PeerURL+": unreachable: this is a peer port") {
			t.Errorf("error %q does not say what is wrong with %s", err, m.PeerURL)
		}
	})
	t.Run("hung member", func(t *testing.T) {
		// A cached connection, then the member freezes: the request was
		// accepted and never answered.
		cn := conn{endpoint: m.ClientURL, dialTimeout: time.Second, commandTimeout: 2 * time.Second}
		c := cn.open(t)
		ms, err := c.Members(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pause(t, m)
		start := time.Now()
		st := c.ProbeMember(context.Background(), ms.Members[0], cluster.ProbeOptions{SkipMetrics: true})
		expectFailure(t, time.Since(start), st.Err, cluster.ErrUnreachable,
			"accepted the connection but did not answer within the deadline (member hung or overloaded)", 4*time.Second)

		// A new connection to the frozen member: the kernel accepts it, the
		// member never answers the HTTP/2 greeting, and --dial-timeout bounds it.
		took, err := cn.listMembers(t)
		expectFailure(t, took, err, cluster.ErrUnreachable,
			"accepted the connection but did not answer within --dial-timeout 1s (member hung or overloaded)", 2*time.Second)
		if took < time.Second {
			t.Errorf("gave up on the hung member after %s, before the 1s dial timeout", took)
		}
	})
	t.Run("member died after connecting", func(t *testing.T) {
		cn := conn{endpoint: m.ClientURL, dialTimeout: 5 * time.Second, commandTimeout: 30 * time.Second}
		c := cn.open(t)
		ms, err := c.Members(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Kill(); err != nil {
			t.Fatal(err)
		}
		cli, err := c.Client(context.Background(), m.ClientURL)
		if err == nil {
			// The client learns of the closed connection a moment later.
			deadline := time.Now().Add(5 * time.Second)
			for cli.ActiveConnection().GetState() == connectivity.Ready && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
		}
		start := time.Now()
		st := c.ProbeMember(context.Background(), ms.Members[0], cluster.ProbeOptions{SkipMetrics: true})
		expectFailure(t, time.Since(start), st.Err, cluster.ErrUnreachable, "connection refused", time.Second)
	})
}

// plainMemberFailures runs the connection mistakes one can make against a
// real member without TLS. etcd 3.5's plain peer listener serves the client
// gRPC API too (peerServesGRPC): there a peer URL works, and is no mistake.
func plainMemberFailures(t *testing.T, pg *playground.Cluster, peerServesGRPC bool) {
	t.Helper()
	m := pg.Member(0)
	fast := conn{dialTimeout: 5 * time.Second, commandTimeout: 30 * time.Second}
	t.Run("client port answers", func(t *testing.T) {
		cn := fast
		cn.endpoint = m.ClientURL
		if _, err := cn.listMembers(t); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("peer port", func(t *testing.T) {
		cn := fast
		cn.endpoint = m.PeerURL
		if peerServesGRPC {
			ms, err := cn.open(t).Members(context.Background())
			if err != nil {
				t.Fatalf("this release serves gRPC on its peer port, yet: %v", err)
			}
			if len(ms.Members) != 1 || ms.Members[0].Name != m.Name {
				t.Fatalf("members through the peer port: %+v, want %s", ms.Members, m.Name)
			}
			return
		}
		took, err := cn.listMembers(t)
		expectFailure(t, took, err, cluster.ErrUnreachable,
			"this is a peer port, not a client port (member m1 serves clients on "+m.ClientURL+")", time.Second)
	})
	t.Run("TLS to a plain port", func(t *testing.T) {
		cn := fast
		cn.endpoint, cn.insecureSkipTLSVerify = "https://"+hostOf(t, m.ClientURL), true
		took, err := cn.listMembers(t)
		expectFailure(t, took, err, cluster.ErrTLS, "TLS to a plain-HTTP port", time.Second)
	})
}

// pause freezes a member for the rest of the test.
func pause(t *testing.T, m *playground.Member) {
	t.Helper()
	// Pause returns once the kernel shows every thread stopped.
	if err := m.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Resume(); err != nil {
			t.Error(err)
		}
	})
}

func TestTLSMemberFailures(t *testing.T) {
	pg := playgroundtest.Start(t, playground.Options{Members: 1, TLS: true})
	tlsMemberFailures(t, pg)

	// The cases that depend on the TLS server alone, with crypto/tls servers
	// built from the playground's certificates.
	m := pg.Member(0)
	files := pg.TLS()
	full := conn{endpoint: m.ClientURL, cacert: files.CA, cert: files.ClientCert, key: files.ClientKey,
		dialTimeout: 5 * time.Second, commandTimeout: 30 * time.Second}
	t.Run("TLS 1.2 server, no client certificate", func(t *testing.T) {
		// Under TLS 1.2 the refusal is a bare handshake_failure alert, not
		// TLS 1.3's "certificate required".
		cn := full
		cn.endpoint, cn.cert, cn.key = "https://"+tlsServer(t, files, tls.VersionTLS12, files.CA), "", ""
		took, err := cn.listMembers(t)
		expectFailure(t, took, err, cluster.ErrTLS, "the server requires a client certificate (--cert/--key)", time.Second)
	})
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run("client certificate rejected, "+tls.VersionName(version), func(t *testing.T) {
			// The server trusts only its own certificate for clients, not the
			// CA that signed ours.
			cn := full
			cn.endpoint = "https://" + tlsServer(t, files, version, files.ServerCert)
			took, err := cn.listMembers(t)
			expectFailure(t, took, err, cluster.ErrTLS, "the server rejected the client certificate "+files.ClientCert, time.Second)
		})
	}
}

// The diagnosis reads how etcd's listeners answer (the peer API, what the
// peer listener does with an HTTP/2 preface, the TLS alerts of the Go release
// etcd was built with): the same cases against the release binaries of every
// supported line.
func TestMemberFailuresAcrossReleases(t *testing.T) {
	for v, rb := range playgroundtest.ReleaseBinaries(t) {
		t.Run(v+"/plain", func(t *testing.T) {
			plainMemberFailures(t, playgroundtest.Start(t, playground.Options{Members: 1, EtcdBinary: rb.Etcd}), strings.HasPrefix(v, "v3.5."))
		})
		t.Run(v+"/TLS", func(t *testing.T) {
			tlsMemberFailures(t, playgroundtest.Start(t, playground.Options{Members: 1, TLS: true, EtcdBinary: rb.Etcd}))
		})
	}
}

// tlsMemberFailures runs the connection mistakes one can make against a
// real mutual-TLS member.
func tlsMemberFailures(t *testing.T, pg *playground.Cluster) {
	t.Helper()
	m := pg.Member(0)
	files := pg.TLS()
	full := conn{endpoint: m.ClientURL, cacert: files.CA, cert: files.ClientCert, key: files.ClientKey,
		dialTimeout: 5 * time.Second, commandTimeout: 30 * time.Second}

	t.Run("client port answers", func(t *testing.T) {
		if _, err := full.listMembers(t); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no client certificate", func(t *testing.T) {
		cn := full
		cn.cert, cn.key = "", ""
		took, err := cn.listMembers(t)
		expectFailure(t, took, err, cluster.ErrTLS, "the server requires a client certificate (--cert/--key)", time.Second)
	})
	t.Run("plain HTTP to the TLS port", func(t *testing.T) {
		cn := conn{endpoint: "http://" + hostOf(t, m.ClientURL), dialTimeout: 5 * time.Second, commandTimeout: 30 * time.Second}
		took, err := cn.listMembers(t)
		expectFailure(t, took, err, cluster.ErrTLS, "plain HTTP to a TLS port", time.Second)
	})
	t.Run("peer port", func(t *testing.T) {
		cn := full
		cn.endpoint = m.PeerURL
		took, err := cn.listMembers(t)
		expectFailure(t, took, err, cluster.ErrUnreachable,
			"this is a peer port, not a client port (member m1 serves clients on "+m.ClientURL+")", time.Second)
	})
	t.Run("wrong CA", func(t *testing.T) {
		// The client certificate is no CA: the server's chain does not verify.
		cn := full
		cn.cacert = files.ClientCert
		took, err := cn.listMembers(t)
		expectFailure(t, took, err, cluster.ErrTLS, "TLS verification failed (CA file "+files.ClientCert+")", time.Second)
	})
}

// tlsServer is a TLS listener on loopback with the playground's server
// certificate that requires client certificates signed by what clientCAFile
// holds, speaking only the given TLS version. It completes handshakes and
// then closes: these tests are about the handshake.
func tlsServer(t *testing.T, files *playground.TLSFiles, version uint16, clientCAFile string) string {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(files.ServerCert, files.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(clientCAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", clientCAFile)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: version, MaxVersion: version, NextProtos: []string{"h2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if c.(*tls.Conn).Handshake() == nil {
					c.Read(make([]byte, 1))
				}
			}()
		}
	}()
	return l.Addr().String()
}
