package snapshot

import (
	"context"
	"net"
	"net/http"
	"time"
)

// idleConn fails a write that cannot hand its bytes to the kernel within
// idle (a server that stopped reading fills the socket buffer, and the
// write would block for good) and, with reads set, a read that receives
// nothing for that long. Storage SDKs set no such bound.
type idleConn struct {
	net.Conn
	idle  time.Duration
	reads bool
}

func (c *idleConn) Write(p []byte) (int, error) {
	set := c.Conn.SetWriteDeadline
	if c.reads {
		// A request body on its way counts as progress for the read that
		// waits meanwhile for the response (HTTP/1 reads while it writes).
		set = c.Conn.SetDeadline
	}
	if err := set(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *idleConn) Read(p []byte) (int, error) {
	if c.reads {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

// idleTransport is Go's default transport whose connections fail when they
// move nothing, either way, for idle: a hung endpoint (a stopped server, a
// proxy that stopped forwarding) keeps its TCP connection open, so without
// it a call would wait forever. A pooled connection idle that long is
// dropped, as IdleConnTimeout would.
func idleTransport(idle time.Duration) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	bound(tr, idle, true)
	return tr
}

// bound makes tr's connections idleConns (reads: bounded both ways) and
// bounds the wait for response headers by idle too.
func bound(tr *http.Transport, idle time.Duration, reads bool) {
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: idle, KeepAlive: 30 * time.Second}).DialContext
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &idleConn{Conn: conn, idle: idle, reads: reads}, nil
	}
	tr.ResponseHeaderTimeout = idle
}
