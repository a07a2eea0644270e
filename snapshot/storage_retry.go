package snapshot

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// stallsFail is the AWS SDK's retryer, except that an attempt ended by the
// idle bound is not tried again (azureShouldRetry does the same for Azure).
// The bound already waited a whole --stall-timeout without one byte moving;
// each retry waited as long again (three tries of a part, then three of the
// abort: a hung server cost six stall timeouts before the save failed). A
// refused connection, a reset or a 5xx is retried as before: those are the
// blips retries exist for.
type stallsFail struct{ aws.RetryerV2 }

func (r stallsFail) IsErrorRetryable(err error) bool {
	if stalled(err) {
		return false
	}
	return r.RetryerV2.IsErrorRetryable(err)
}

// stalled reports whether err is a timeout: a connection that moved nothing
// for the idle bound (a read or write deadline, net/http's wait for response
// headers, the SDK's own body read timeout). The caller's deadline counts
// too (net/http's timeout errors say they are context.DeadlineExceeded): a
// request past it is not retried either way. Every link of the chain is
// asked: errors.As would stop at the first that has a Timeout method, and
// *url.Error's says false when the timeout is wrapped once more below it.
func stalled(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if te, ok := err.(interface{ Timeout() bool }); ok && te.Timeout() {
			return true
		}
	}
	return false
}

// withStallsFailing wraps the client's retryer (the SDK's standard one, or
// the one a URL parameter such as rate_limiter_capacity chose).
func withStallsFailing(r aws.Retryer) aws.Retryer {
	if r == nil {
		r = retry.NewStandard()
	}
	if v2, ok := r.(aws.RetryerV2); ok {
		return stallsFail{v2}
	}
	return r
}
