// Package exitcode holds the process exit codes every etcdmedic command shares.
// They are part of the CLI contract (docs/exit-codes.md): scripts and cron jobs branch on them.
package exitcode

import (
	"errors"
	"strconv"
)

const (
	OK       = 0  // success, healthy, or nothing to do
	Warning  = 1  // a warning, or partial success
	Critical = 2  // critical finding, or the operation failed
	Unknown  = 3  // could not determine: nothing reachable, auth refused
	Refused  = 4  // a safety gate refused to act (quorum, lock held)
	Usage    = 64 // bad flags, arguments or input files (sysexits EX_USAGE)
)

// Error carries an exit code through the command tree to main.
// Silent means the command already rendered its own diagnosis (a table of
// unhealthy members, say), so main prints nothing more.
type Error struct {
	Code   int
	Err    error
	Silent bool
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "exit code " + strconv.Itoa(e.Code)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// New wraps err with an exit code.
func New(code int, err error) *Error { return &Error{Code: code, Err: err} }

// Silent returns an exit code without a message.
func Silent(code int) *Error { return &Error{Code: code, Silent: true} }

// UsageError builds a usage error (exit 64).
func UsageError(err error) *Error { return &Error{Code: Usage, Err: err} }

// Of returns the exit code an error maps to: the code of an *Error in its chain, else Critical.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Critical
}
