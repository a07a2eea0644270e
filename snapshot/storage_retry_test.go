package snapshot

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The errors the idle bound ends an attempt with are not retried; every
// other error is decided by the SDK's retryer, as before.
func TestStalledRequestsAreNotRetried(t *testing.T) {
	r, sdk := withStallsFailing(nil), retry.NewStandard()
	sent := func(err error) error { return &smithyhttp.RequestSendError{Err: err} }
	for _, c := range []struct {
		name    string
		err     error
		stalled bool
	}{
		{"write deadline", sent(&net.OpError{Op: "write", Net: "tcp", Err: os.ErrDeadlineExceeded}), true},
		{"read deadline", sent(fmt.Errorf("read body: %w", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded})), true},
		{"body read timeout", &awshttp.ResponseTimeoutError{}, true},
		// As the SDK hands it over: a *url.Error whose own Timeout says
		// false, for the timeout is wrapped once more below it.
		{"body read timeout under a url.Error", sent(&url.Error{Op: "Delete", URL: "http://s3/b/k", Err: fmt.Errorf("read body: %w", &awshttp.ResponseTimeoutError{})}), true},
		{"connection refused", sent(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), false},
		{"connection reset", sent(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), false},
		// net/http's ResponseHeaderTimeout, as the transport returns it:
		// a timeout that also says it is context.DeadlineExceeded.
		{"response header timeout", sent(&url.Error{Op: "Put", URL: "http://s3/b/k", Err: headerTimeout(t)}), true},
	} {
		want := !c.stalled && sdk.IsErrorRetryable(c.err)
		if c.stalled && !sdk.IsErrorRetryable(c.err) {
			t.Errorf("%s: the SDK would not retry it either: the case tests nothing", c.name)
		}
		if got := r.IsErrorRetryable(c.err); got != want {
			t.Errorf("%s (%v): retried %v, want %v", c.name, c.err, got, want)
		}
	}
	if !r.IsErrorRetryable(sent(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})) {
		t.Error("a refused connection is no longer retried")
	}
	if _, ok := r.(stallsFail); !ok || r.MaxAttempts() != retry.DefaultMaxAttempts {
		t.Errorf("retryer %T with %d attempts: want the SDK's standard one, wrapped", r, r.MaxAttempts())
	}
}

// headerTimeout is the error net/http's transport gives when a server
// accepts a request and sends no response headers within
// ResponseHeaderTimeout: a listener that never answers.
func headerTimeout(t *testing.T) error {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tr := &http.Transport{ResponseHeaderTimeout: 50 * time.Millisecond}
	defer tr.CloseIdleConnections()
	_, err = (&http.Client{Transport: tr}).Get("http://" + l.Addr().String())
	if err == nil {
		t.Fatal("a server that never answers answered")
	}
	return errors.Unwrap(err) // the *url.Error's inner error
}
