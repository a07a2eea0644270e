// Package fault is the vocabulary capabilities use to say how an operation
// ended, without knowing any exit code: they mark their errors with one of
// these kinds, and commands/cmdutil alone turns a kind into an exit code
// (docs/exit-codes.md).
package fault

import "errors"

// The kinds, from the mildest. An error carries at most one that matters: the
// outermost mark wins (see Kind).
var (
	// Partial: some of the work was done, some was not (exit 1).
	Partial = errors.New("partly done")
	// Failed: the operation failed, or a critical finding (exit 2).
	Failed = errors.New("failed")
	// Indeterminate: nothing could be determined (unreachable, auth refused; exit 3).
	Indeterminate = errors.New("could not determine")
	// Refused: a safety gate refused to act, nothing was changed (exit 4).
	Refused = errors.New("refused")
	// Invalid: bad flags, arguments or input files (exit 64).
	Invalid = errors.New("invalid input")
)

var kinds = []error{Partial, Failed, Indeterminate, Refused, Invalid}

type marked struct {
	err      error
	kind     error
	reported bool
}

func (m *marked) Error() string {
	if m.err == nil {
		return m.kind.Error()
	}
	return m.err.Error()
}

func (m *marked) Unwrap() []error {
	if m.err == nil {
		return []error{m.kind}
	}
	return []error{m.kind, m.err}
}

// Mark tags err with a kind; its message is unchanged. Mark(nil, k) is nil.
func Mark(err, kind error) error {
	if err == nil {
		return nil
	}
	return &marked{err: err, kind: kind}
}

// Refusedf, Invalidf and friends are errors.New / fmt.Errorf with a kind.
func New(kind error, msg string) error { return &marked{err: errors.New(msg), kind: kind} }

// Reported is the outcome of a command that already printed everything it had
// to say (a table of findings, a summary): it carries a kind, or nil for
// success, and no message of its own.
func Reported(kind error) error {
	if kind == nil {
		return nil
	}
	return &marked{kind: kind, reported: true}
}

// IsReported says the command has said everything: print no error line.
func IsReported(err error) bool {
	var m *marked
	return errors.As(err, &m) && m.reported
}

// Kind returns the kind of err: the outermost mark in its chain, nil when none.
func Kind(err error) error {
	var m *marked
	if errors.As(err, &m) {
		return m.kind
	}
	for _, k := range kinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

// KindOr is Kind(err), or def when err carries no kind.
func KindOr(err, def error) error {
	if k := Kind(err); k != nil {
		return k
	}
	return def
}
