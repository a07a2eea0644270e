package cluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// maxDiagnoseBudget bounds the direct look taken when a connection or an
// RPC failed without saying why (and never more than --dial-timeout).
const maxDiagnoseBudget = 500 * time.Millisecond

// fail classifies an RPC error. gRPC waits for a ready connection and then
// only says "deadline exceeded", hiding why: refused, TLS rejected, or a
// member that accepts connections and never answers. A short direct look
// tells those apart, so the one-line error says what to fix.
func (c *Cluster) fail(endpoint string, err error) error {
	classified := c.Config.classify(endpoint, err)
	if !errors.Is(classified, ErrUnreachable) {
		return classified
	}
	if why := c.diagnose(endpoint, "the deadline"); why != nil {
		return why
	}
	if IsDeadline(err) && (strings.HasPrefix(endpoint, "http://") || strings.HasPrefix(endpoint, "https://")) {
		// The member speaks HTTP/2 on a fresh connection, so it is there:
		// the request itself went unanswered.
		return (&probe{endpoint: endpoint, waited: "the deadline"}).hung("did not answer")
	}
	return classified
}

func (c *Cluster) diagnoseBudget() time.Duration { return min(maxDiagnoseBudget, c.Config.DialTimeout) }

// diagnoseAll diagnoses several endpoints in parallel and joins what is wrong
// with each; nil when the look found nothing wrong with any of them.
func (c *Cluster) diagnoseAll(endpoints []string, waited string) error {
	errs := make([]error, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.diagnose(ep, waited)
		}()
	}
	wg.Wait()
	var found []error
	for _, err := range errs {
		if err != nil {
			found = append(found, err)
		}
	}
	if len(found) == 0 {
		return nil
	}
	return joinSame(found) // one line, as every connection error is
}

// diagnose connects to endpoint the way gRPC does — TCP, TLS for https, then
// the HTTP/2 preface — and returns an error naming the first step that fails,
// or nil when the endpoint speaks HTTP/2 and so the transport is not the
// problem. waited names the deadline the caller gave up at, for the message.
func (c *Cluster) diagnose(endpoint, waited string) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.diagnoseBudget())
	defer cancel()
	p := &probe{c: c, endpoint: endpoint, host: u.Host, serverName: u.Hostname(), waited: waited}
	if u.Scheme == "https" {
		return p.overTLS(ctx)
	}
	return p.plain(ctx)
}

// probe is one diagnostic look at one endpoint.
type probe struct {
	c          *Cluster
	endpoint   string
	host       string // host:port
	serverName string
	waited     string
}

func (p *probe) plain(ctx context.Context) error {
	conn, err := p.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	ans, err := greet(ctx, conn)
	switch {
	case err == nil && ans == answerHTTP2:
		return nil
	case err == nil && ans == answerHTTP1:
		return p.notGRPC(ctx)
	case isTimeout(err):
		return p.hung("did not answer")
	}
	// A TLS listener drops plaintext without a word (or with a TLS alert).
	if p.speaksTLS(ctx) {
		return fmt.Errorf("%s: %w: plain HTTP to a TLS port: the server speaks TLS (use https:// with --cacert, and --cert/--key if it requires client certificates)", p.endpoint, ErrTLS)
	}
	// Some etcd releases' peer listeners close on the HTTP/2 preface without a word.
	if why := p.peerPort(ctx); why != nil {
		return why
	}
	if err == nil {
		return fmt.Errorf("%s: %w: the server answered in neither HTTP/2 nor HTTP/1: not an etcd client port", p.endpoint, ErrUnreachable)
	}
	return fmt.Errorf("%s: %w: the server closed the connection without answering (%v)", p.endpoint, ErrUnreachable, err)
}

func (p *probe) overTLS(ctx context.Context) error {
	conn, err := p.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var asked bool
	tconn := tls.Client(conn, p.c.probeTLS(p.serverName, &asked))
	err = tconn.HandshakeContext(ctx)
	if err == nil {
		// Under TLS 1.3 the client finishes its handshake before the server
		// has checked the client certificate: a rejection only arrives as an
		// alert on the first read.
		var ans answer
		ans, err = greet(ctx, tconn)
		switch {
		case err == nil && ans == answerHTTP2:
			return nil
		case err == nil && ans == answerHTTP1:
			return p.notGRPC(ctx)
		case err == nil:
			return fmt.Errorf("%s: %w: the server answered over TLS in neither HTTP/2 nor HTTP/1: not an etcd client port", p.endpoint, ErrUnreachable)
		case isTimeout(err):
			return p.hung("completed the TLS handshake but did not answer")
		case !isRemoteAlert(err):
			// etcd 3.5's TLS peer listener closes on the HTTP/2 preface without a word.
			if why := p.peerPort(ctx); why != nil {
				return why
			}
			return fmt.Errorf("%s: %w: the server closed the connection after the TLS handshake without answering HTTP/2 (%v): not an etcd client port", p.endpoint, ErrUnreachable, err)
		}
	} else if isTimeout(err) {
		return p.hung("did not complete the TLS handshake")
	}
	if !isRemoteAlert(err) && !isX509(err) && p.speaksPlain(ctx) {
		return fmt.Errorf("%s: %w: TLS to a plain-HTTP port: the server does not speak TLS (use http://, or the member's TLS port)", p.endpoint, ErrTLS)
	}
	return p.c.Config.explainTLS(p.endpoint, err, asked)
}

// dial opens a TCP connection and names what went wrong if it cannot.
func (p *probe) dial(ctx context.Context) (net.Conn, error) {
	conn, err := dialTCP(ctx, &net.Dialer{}, p.host)
	if err == nil {
		return conn, nil
	}
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return nil, fmt.Errorf("%s: %w: cannot resolve host %q (%s)", p.endpoint, ErrUnreachable, dnsErr.Name, dnsErr.Err)
	case errors.Is(err, syscall.ECONNREFUSED):
		if p.c.Config.Sources["endpoints"] == "default" {
			// Nothing named this endpoint: the likeliest cause is a node
			// that runs no etcd (a worker, a laptop), not a stopped member.
			found := strings.TrimSuffix(strings.TrimPrefix(p.c.Config.Layout, "none ("), ")")
			return nil, fmt.Errorf("%s: %w: connection refused: no endpoint was given and %s; pass --endpoints (or ETCDCTL_ENDPOINTS), or --manifest", p.endpoint, ErrUnreachable, found)
		}
		return nil, fmt.Errorf("%s: %w: connection refused (is etcd running and listening there?)", p.endpoint, ErrUnreachable)
	case isTimeout(err):
		return nil, fmt.Errorf("%s: %w: no TCP connection within %s (host down, port filtered, or its listen queue full)", p.endpoint, ErrUnreachable, p.waited)
	}
	return nil, fmt.Errorf("%s: %w: %v", p.endpoint, ErrUnreachable, err)
}

// hung is the one message that blames the member: it accepted the
// connection, so it is there, and then said nothing in time.
func (p *probe) hung(what string) error {
	return fmt.Errorf("%s: %w: accepted the connection but %s within %s (member hung or overloaded)", p.endpoint, ErrUnreachable, what, p.waited)
}

// speaksTLS reports whether the port completes (or rejects with an alert) a
// TLS handshake. Certificates are not verified: this only asks which
// protocol is spoken there, and nothing is sent after the handshake.
func (p *probe) speaksTLS(ctx context.Context) bool {
	conn, err := dialTCP(ctx, &net.Dialer{}, p.host)
	if err != nil {
		return false
	}
	defer conn.Close()
	tconn := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: p.serverName, NextProtos: []string{"h2"}}) //nolint:gosec // protocol detection only
	err = tconn.HandshakeContext(ctx)
	return err == nil || isRemoteAlert(err)
}

// speaksPlain reports whether the port answers the HTTP/2 preface in plaintext.
func (p *probe) speaksPlain(ctx context.Context) bool {
	conn, err := dialTCP(ctx, &net.Dialer{}, p.host)
	if err != nil {
		return false
	}
	defer conn.Close()
	ans, err := greet(ctx, conn)
	return err == nil && (ans == answerHTTP2 || ans == answerHTTP1)
}

// notGRPC explains an endpoint that answers HTTP/1 only.
func (p *probe) notGRPC(ctx context.Context) error {
	if why := p.peerPort(ctx); why != nil {
		return why
	}
	return fmt.Errorf("%s: %w: the server speaks HTTP/1 but not gRPC: not an etcd client port", p.endpoint, ErrUnreachable)
}

// peerPort returns an error when the endpoint is an etcd peer listener (2380
// given for 2379), nil when it cannot tell. The peer API serves /members, no
// client port does, and its answer says where the client port is.
func (p *probe) peerPort(ctx context.Context) error {
	scheme := "http"
	if p.c.tls != nil && strings.HasPrefix(p.endpoint, "https://") {
		scheme = "https"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+p.host+"/members", nil)
	if err != nil {
		return nil
	}
	members, ok := p.c.peerMembers(req)
	if !ok {
		return nil
	}
	return fmt.Errorf("%s: %w: this is a peer port, not a client port (%s)", p.endpoint, ErrUnreachable, clientURLHint(members, p.host))
}

// peerMember is one entry of the peer API's GET /members.
type peerMember struct {
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
}

func (c *Cluster) peerMembers(req *http.Request) ([]peerMember, bool) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, false
	}
	var members []peerMember
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&members); err != nil || len(members) == 0 {
		return nil, false
	}
	for _, m := range members {
		if len(m.PeerURLs) == 0 {
			return nil, false
		}
	}
	return members, true
}

// clientURLHint names the client URLs of the member whose peer URL was
// given, or of every member when none matches (a proxy, an advertised name).
func clientURLHint(members []peerMember, host string) string {
	for _, m := range members {
		for _, pu := range m.PeerURLs {
			if u, err := url.Parse(pu); err == nil && u.Host == host && len(m.ClientURLs) > 0 {
				return fmt.Sprintf("member %s serves clients on %s", m.Name, strings.Join(m.ClientURLs, ","))
			}
		}
	}
	var urls []string
	for _, m := range members {
		urls = append(urls, m.ClientURLs...)
	}
	if len(urls) == 0 {
		return "the client port is usually 2379"
	}
	return "client URLs: " + strings.Join(urls, ",")
}

// answer is how a server replied to the HTTP/2 client preface.
type answer int

const (
	answerOther answer = iota
	answerHTTP2        // a SETTINGS frame: an HTTP/2 server, as etcd's client port is
	answerHTTP1        // "HTTP/1.1 400 ...": an HTTP/1 server, such as etcd's peer port
)

// h2Greeting is the HTTP/2 client preface followed by an empty SETTINGS
// frame: what gRPC sends first on every connection.
const h2Greeting = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + "\x00\x00\x00\x04\x00\x00\x00\x00\x00"

func greet(ctx context.Context, conn net.Conn) (answer, error) {
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return answerOther, err
		}
	}
	if _, err := io.WriteString(conn, h2Greeting); err != nil {
		return answerOther, err
	}
	buf := make([]byte, 9) // one HTTP/2 frame header
	n, err := io.ReadFull(conn, buf)
	switch {
	case n >= 5 && string(buf[:5]) == "HTTP/":
		return answerHTTP1, nil
	case n == 9 && buf[3] == 0x4: // frame type SETTINGS
		return answerHTTP2, nil
	case err != nil:
		return answerOther, err
	}
	return answerOther, nil
}

// invalidTLD is RFC 6761's reserved name that never resolves: looking it
// up is answered here, at once, without asking a DNS server.
const invalidTLD = "invalid"

func isReservedInvalid(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host == invalidTLD || strings.HasSuffix(host, "."+invalidTLD)
}

func dialTCP(ctx context.Context, d *net.Dialer, hostport string) (net.Conn, error) {
	if host, _, err := net.SplitHostPort(hostport); err == nil && isReservedInvalid(host) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
	}
	return d.DialContext(ctx, "tcp", hostport)
}

func isTimeout(err error) bool {
	var ne net.Error
	return err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout())
}

// isRemoteAlert reports whether the peer sent a TLS alert: it speaks TLS
// and refused something in the handshake.
func isRemoteAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}
