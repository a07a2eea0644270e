// Package step is the protocol every command that changes things follows:
// plan (what will change, nothing touched) → confirm (--yes, --dry-run or a
// "y" typed on a terminal) → apply → a typed result → one render (a table for
// people, JSON or YAML through internal/output for programs).
//
// A step never decides exit codes: a refusal is an error marked
// fault.Refused, and the caller's error is passed on as Apply returned it.
package step

import (
	"context"
	"fmt"

	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

// Result is a plan's preview or an apply's outcome: a pointer to a struct
// whose JSON tags are the machine contract and whose Table method is the
// human view. A nil Result means there is nothing to show.
type Result interface {
	comparable
	Table(io *iostreams.IOStreams) error
}

// Change is one thing a step will change: what it does to what, and the line
// a person reads.
type Change struct {
	Action string `json:"action"` // "move", "write", "delete", "revert", ...
	Target string `json:"target"` // a path, a key prefix, a journal entry
	Line   string `json:"line"`
}

// Plan is what a step would change, found without changing anything.
type Plan[R Result] struct {
	// Changes empty means nothing to do: the preview is shown, nothing is
	// asked, and the step succeeds.
	Changes []Change
	// Question is asked on a terminal, e.g. "Delete these 1204 pods from etcd?".
	Question string
	// Preview is the typed dry-run result (-o json prints it for a plan).
	Preview R
}

// Step is one command that changes things.
type Step[R Result] struct {
	Plan func(ctx context.Context) (Plan[R], error)
	// Apply does the work; it reads the state again rather than trusting
	// the plan, so it changes only what still needs changing. A failed
	// apply may still return a result (what was done before the failure):
	// it is rendered, then the error returned.
	Apply func(ctx context.Context) (R, error)
	// Direct: with --yes, Apply runs without the separate Plan, whose cost
	// equals the work's (a purge reads every pod to plan); the result then
	// says what was found and done.
	Direct bool
	// Exclusive, when set, is held from the plan to the end of Apply by
	// every run that may change things (not --dry-run): two runs changing
	// the same thing (one node's manifests) must not interleave, and what a
	// run planned and showed is what it applies. Its error (a refusal) is
	// returned as is.
	Exclusive func() (release func(), err error)
}

// Options are the caller's flags.
type Options struct {
	IO     *iostreams.IOStreams
	Format output.Format
	Yes    bool // --yes: apply without asking
	DryRun bool // --dry-run: show the plan only (wins over --yes)
}

// Run walks the protocol and returns the result shown last: the applied
// result, or the preview when nothing was applied.
func Run[R Result](ctx context.Context, o Options, s Step[R]) (R, error) {
	if s.Exclusive != nil && !o.DryRun {
		release, err := s.Exclusive()
		if err != nil {
			var zero R
			return zero, err
		}
		defer release()
	}
	if s.Direct && o.Yes && !o.DryRun {
		return apply(ctx, o, s)
	}
	var zero R
	p, err := s.Plan(ctx)
	if err != nil {
		return zero, err
	}
	machine := o.Format.Machine()
	if len(p.Changes) == 0 || !machine {
		if err := show(o, p.Preview); err != nil {
			return p.Preview, err
		}
		if len(p.Changes) == 0 {
			return p.Preview, nil
		}
	}
	if machine && !o.Yes && !o.DryRun {
		// The plan goes to stdout only if it is not applied; whoever is
		// asked reads what would change here.
		for _, c := range p.Changes {
			fmt.Fprintf(o.IO.ErrOut, "  %s\n", c.Line)
		}
	}
	if err := Confirm(o, p.Question); err != nil || o.DryRun {
		if machine {
			if rerr := show(o, p.Preview); rerr != nil {
				return p.Preview, rerr
			}
		}
		return p.Preview, err
	}
	return apply(ctx, o, s)
}

func apply[R Result](ctx context.Context, o Options, s Step[R]) (R, error) {
	r, err := s.Apply(ctx)
	if rerr := show(o, r); rerr != nil && err == nil {
		err = rerr
	}
	return r, err
}
