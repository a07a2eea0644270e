package snapshot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
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
// connection idle for longer than idle, reading or writing, and a retryer
// that does not wait that long again.
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
	o.Retryer = withStallsFailing(o.Retryer)
	// The opener left its parsed options (encryption, checksums) in its own
	// Options: the bucket opened again keeps them.
	return s3blob.OpenBucket(ctx, s3.New(o), u.Host, &opener.Options)
}

// storageHTTPClient is the SDK's own client with a read timeout (reset by
// every byte received) and the same bound on writes: a server that stops
// reading a part's body fills the socket buffer and the write would block
// for good. (Reads are bounded by the SDK here, on the response body only.)
func storageHTTPClient(idle time.Duration) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithReadTimeout(idle).
		WithTransportOptions(func(tr *http.Transport) { bound(tr, idle, false) })
}

// s3Diagnosis says in words what a storage error means when it is about
// credentials, the commonest failure of a new backup job, and what to
// check, with the part of the SDK's text that says why; "" for any other
// error. The SDK's whole text names the operation and request IDs first.
func s3Diagnosis(err error) (diagnosis, detail string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "SignatureDoesNotMatch", "InvalidAccessKeyId", "InvalidClientTokenId", "InvalidToken", "ExpiredToken", "TokenRefreshRequired":
			return fmt.Sprintf("the storage refused the credentials (%s): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the profile's", ae.ErrorCode()), ae.ErrorMessage()
		case "AccessDenied", "AllAccessDisabled":
			return fmt.Sprintf("the credentials lack a permission (%s): the job needs s3:ListBucket, GetObject, PutObject, DeleteObject and AbortMultipartUpload on the bucket", ae.ErrorCode()), ae.ErrorMessage()
		}
		return "", ""
	}
	if _, why, ok := strings.Cut(err.Error(), "get credentials: "); ok {
		return "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE (with ~/.aws), a web identity token (IRSA), or run where an instance role is", why
	}
	return "", ""
}

// briefSDKError keeps an SDK error (for errors.Is/As and the exit code) and
// says it in fewer words: the operation, how many attempts, and the
// innermost cause ("connection refused", "read on body reach timeout
// limit"), without the request URL and upload ID the SDK's text repeats.
func briefSDKError(err error) error {
	var op *smithy.OperationError
	if !errors.As(err, &op) {
		return err
	}
	inner := err
	for next := errors.Unwrap(inner); next != nil; next = errors.Unwrap(inner) {
		inner = next
	}
	// A network error names the address too: "dial tcp H:P: connect:
	// connection refused", not "connection refused".
	var ne *net.OpError
	if errors.As(err, &ne) {
		inner = ne
	}
	msg := op.Operation()
	var ma *retry.MaxAttemptsError
	if errors.As(err, &ma) {
		msg += fmt.Sprintf(" failed %d times", ma.Attempt)
	}
	return &briefError{msg: msg + ": " + inner.Error(), err: err}
}

type briefError struct {
	msg string
	err error
}

func (e *briefError) Error() string { return e.msg }
func (e *briefError) Unwrap() error { return e.err }
