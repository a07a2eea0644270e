package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// Reasons an endpoint could not answer; callers map them to "cannot tell"
// (exit 3) rather than "unhealthy": we do not know the member's health.
var (
	ErrUnreachable = errors.New("unreachable")
	ErrAuth        = errors.New("authentication refused")
	ErrTLS         = errors.New("TLS failure")
)

// classify wraps an RPC error with one of the sentinels above and a short,
// one-line description of what went wrong at endpoint.
func (c *Config) classify(endpoint string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case errors.Is(err, rpctypes.ErrAuthFailed), errors.Is(err, rpctypes.ErrPermissionDenied),
		errors.Is(err, rpctypes.ErrUserEmpty), errors.Is(err, rpctypes.ErrInvalidAuthToken),
		errors.Is(err, rpctypes.ErrGRPCAuthFailed), errors.Is(err, rpctypes.ErrGRPCPermissionDenied),
		errors.Is(err, rpctypes.ErrGRPCUserEmpty), errors.Is(err, rpctypes.ErrGRPCInvalidAuthToken),
		strings.Contains(msg, "authentication failed"), strings.Contains(msg, "permission denied"),
		strings.Contains(msg, "user name is empty"):
		if c.User != "" && c.Password == "" {
			// The client logs in only with both; etcd's "user name is empty"
			// would send the reader looking at the wrong half.
			return fmt.Errorf("%s: %w: no password for etcd user %s: set ETCDCTL_PASSWORD, or run on a terminal to be asked", endpoint, ErrAuth, c.User)
		}
		return fmt.Errorf("%s: %w: %s", endpoint, ErrAuth, lastPart(msg))
	case strings.Contains(msg, "x509:"), strings.Contains(msg, "tls:"), strings.Contains(msg, "handshake"):
		return fmt.Errorf("%s: %w: %s: %s", endpoint, ErrTLS, c.describeTLSFailure(), lastPart(msg))
	case IsDeadline(err):
		return fmt.Errorf("%s: %w: no answer within the deadline", endpoint, ErrUnreachable)
	case strings.Contains(msg, "connection refused"):
		return fmt.Errorf("%s: %w: connection refused", endpoint, ErrUnreachable)
	case strings.Contains(msg, "Unavailable"), strings.Contains(msg, "no such host"):
		return fmt.Errorf("%s: %w: %s", endpoint, ErrUnreachable, lastPart(msg))
	}
	return fmt.Errorf("%s: %w", endpoint, err)
}

// IsDeadline reports whether an RPC ran out of time, however gRPC wrapped it.
func IsDeadline(err error) bool {
	msg := err.Error()
	return errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "DeadlineExceeded") || strings.Contains(msg, "deadline exceeded")
}

// lastPart trims gRPC's nested "rpc error: code = X desc = ..." prefixes down to
// the part a person can act on.
func lastPart(msg string) string {
	if i := strings.LastIndex(msg, "desc = "); i >= 0 {
		msg = msg[i+len("desc = "):]
	}
	return strings.Trim(msg, `"`)
}
