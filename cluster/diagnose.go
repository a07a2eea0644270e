package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// diagnoseBudget bounds the extra look taken after an RPC failed without a reason.
const diagnoseBudget = 500 * time.Millisecond

// fail classifies an RPC error. gRPC waits for a ready connection and then
// only says "deadline exceeded", hiding why: refused, TLS rejected, or a
// member that accepts connections and never answers. A short direct dial
// tells those apart, so the one-line error says what to fix.
func (c *Cluster) fail(endpoint string, err error) error {
	classified := c.Config.classify(endpoint, err)
	if !errors.Is(classified, ErrUnreachable) {
		return classified
	}
	if why := c.diagnose(endpoint); why != nil {
		return why
	}
	return classified
}

func (c *Cluster) diagnose(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), diagnoseBudget)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return fmt.Errorf("%s: %w: connection refused (is etcd running and listening there?)", endpoint, ErrUnreachable)
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("%s: %w: no TCP connection within the deadline (host down or filtered)", endpoint, ErrUnreachable)
		}
		return fmt.Errorf("%s: %w: %v", endpoint, ErrUnreachable, err)
	}
	defer conn.Close()
	if u.Scheme != "https" || c.tls == nil {
		return fmt.Errorf("%s: %w: accepted the connection but did not answer within the deadline (member hung or overloaded)", endpoint, ErrUnreachable)
	}
	tc := c.tls.Clone()
	tc.ServerName = u.Hostname()
	tconn := tls.Client(conn, tc)
	err = tconn.HandshakeContext(ctx)
	switch {
	case err == nil:
		return fmt.Errorf("%s: %w: TLS works but the member did not answer within the deadline (member hung or overloaded)", endpoint, ErrUnreachable)
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "i/o timeout"):
		return fmt.Errorf("%s: %w: accepted the connection but did not complete a TLS handshake within the deadline (member hung or overloaded)", endpoint, ErrUnreachable)
	case strings.Contains(err.Error(), "bad certificate") || strings.Contains(err.Error(), "certificate required"):
		return fmt.Errorf("%s: %w: the server rejected our client certificate %s: %v", endpoint, ErrTLS, c.Config.Cert, err)
	}
	return fmt.Errorf("%s: %w: %s: %v", endpoint, ErrTLS, c.Config.describeTLSFailure(), err)
}
