package cmdutil

import (
	"context"
	"errors"
	"strings"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/exitcode"
)

// FlagError marks bad command-line usage (exit 64).
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// ExitCode maps any error a command returns to the documented exit codes.
// This is the one place where that mapping lives.
func ExitCode(err error) int {
	if err == nil {
		return exitcode.OK
	}
	var ee *exitcode.Error
	var fe *FlagError
	switch {
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &fe), errors.Is(err, cluster.ErrConfig), isCobraUsage(err):
		return exitcode.Usage
	case errors.Is(err, cluster.ErrAuth), errors.Is(err, cluster.ErrTLS), errors.Is(err, cluster.ErrUnreachable):
		return exitcode.Unknown
	case errors.Is(err, context.Canceled):
		return exitcode.Critical
	}
	return exitcode.Critical
}

// isCobraUsage recognises the argument and flag errors cobra raises itself.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "requires at most", "required flag(s)", "if any flags in the group", "invalid argument", "flag needs an argument"} {
		if strings.HasPrefix(msg, p) || strings.Contains(msg, " "+p) {
			return true
		}
	}
	return false
}

// Message is the one line printed for an error, or "" when the command
// already said everything (silent exit codes).
func Message(err error) string {
	var ee *exitcode.Error
	if errors.As(err, &ee) && ee.Silent {
		return ""
	}
	msg := err.Error()
	// A wrapped sentinel reads "x: configuration error: y"; the sentinel's
	// words add nothing for a person.
	msg = strings.Replace(msg, cluster.ErrConfig.Error()+": ", "", 1)
	return strings.ReplaceAll(msg, "\n", " ")
}
