package cmdutil

import (
	"context"
	"errors"
	"strings"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/exitcode"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/secret"
)

// FlagError marks bad command-line usage (exit 64).
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// UsageError is a flag or argument error found by a command's own checks.
func UsageError(err error) error { return &FlagError{Err: err} }

// ExitCode maps any error a command returns to the documented exit codes
// (docs/exit-codes.md). This is the one place where that mapping lives:
// capabilities mark their errors with a fault kind, findings carry a
// health.Severity, and only here do they become numbers.
func ExitCode(err error) int {
	if err == nil {
		return exitcode.OK
	}
	var fe *FlagError
	if errors.As(err, &fe) || isCobraUsage(err) {
		return exitcode.Usage
	}
	switch fault.Kind(err) {
	case fault.Partial:
		return exitcode.Warning
	case fault.Failed:
		return exitcode.Critical
	case fault.Indeterminate:
		return exitcode.Unknown
	case fault.Refused:
		return exitcode.Refused
	case fault.Invalid:
		return exitcode.Usage
	}
	switch {
	case errors.Is(err, cluster.ErrConfig):
		return exitcode.Usage
	case errors.Is(err, cluster.ErrAuth), errors.Is(err, cluster.ErrTLS), errors.Is(err, cluster.ErrUnreachable):
		return exitcode.Unknown
	case errors.Is(err, context.Canceled):
		return exitcode.Critical
	}
	return exitcode.Critical
}

// Outcome is what a command returns after it rendered a result judged by
// health: nil when OK, else an error that prints nothing and carries the
// severity's kind (warn → 1, crit → 2, unknown → 3).
func Outcome(s health.Severity) error { return fault.Reported(SeverityKind(s)) }

// SeverityKind is the fault kind of a severity; nil for OK.
func SeverityKind(s health.Severity) error {
	switch s {
	case health.OK:
		return nil
	case health.Warn:
		return fault.Partial
	case health.Crit:
		return fault.Failed
	}
	return fault.Indeterminate
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
	if fault.IsReported(err) {
		return ""
	}
	msg := err.Error()
	// A wrapped sentinel reads "x: configuration error: y"; the sentinel's
	// words add nothing for a person.
	msg = strings.Replace(msg, cluster.ErrConfig.Error()+": ", "", 1)
	return secret.Redact(strings.ReplaceAll(msg, "\n", " "), nil)
}
