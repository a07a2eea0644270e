package snapshot

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"
)

// DefaultStorageIdleTimeout bounds how long an object-storage connection
// may deliver or accept nothing before the call fails: the SDK sets no
// deadline, and a hung S3 endpoint (a SIGSTOPped MinIO, a proxy that stopped
// forwarding) keeps its TCP connection alive, so a CronJob would wait forever.
// It is an idle bound, not a deadline, so a large upload or download that
// keeps moving is never cut off.
const DefaultStorageIdleTimeout = 30 * time.Second

// openS3 opens an s3:// bucket as gocloud's URL opener does (every query
// parameter it knows), then gives its client an HTTP client that fails a
// connection idle for longer than idle, reading or writing.
func openS3(ctx context.Context, u *url.URL, idle time.Duration) (*blob.Bucket, error) {
	opener := &s3blob.URLOpener{}
	b, err := opener.OpenBucketURL(ctx, u)
	if err != nil {
		return nil, err
	}
	var c *s3.Client
	if !b.As(&c) {
		return b, nil
	}
	b.Close()
	o := c.Options()
	o.HTTPClient = storageHTTPClient(idle)
	// The opener left its parsed options (encryption, checksums) in its own
	// Options: the bucket opened again keeps them.
	return s3blob.OpenBucket(ctx, s3.New(o), u.Host, &opener.Options)
}

// storageHTTPClient is the SDK's own client with a read timeout (reset by
// every byte received) and the same bound on writes: a server that stops
// reading a part's body fills the socket buffer and the write would block
// for good.
func storageHTTPClient(idle time.Duration) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithReadTimeout(idle).
		WithTransportOptions(func(tr *http.Transport) {
			dial := tr.DialContext
			if dial == nil {
				dial = (&net.Dialer{Timeout: idle, KeepAlive: 30 * time.Second}).DialContext
			}
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := dial(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &writeIdleConn{Conn: conn, idle: idle}, nil
			}
			tr.ResponseHeaderTimeout = idle
		})
}

type writeIdleConn struct {
	net.Conn
	idle time.Duration
}

func (c *writeIdleConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
