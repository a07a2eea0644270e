package step_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	"github.com/etcdmedic/etcdmedic/internal/step"
	"github.com/etcdmedic/etcdmedic/internal/step/steptest"
)

type result struct {
	DryRun bool     `json:"dryRun"`
	Files  []string `json:"files"`
}

func (r *result) Table(io *iostreams.IOStreams) error {
	verb := "removed"
	if r.DryRun {
		verb = "would remove"
	}
	for _, f := range r.Files {
		fmt.Fprintf(io.Out, "%s %s\n", verb, f)
	}
	return nil
}

// counter is a step over a list of files, counting applies.
type counter struct {
	files   []string
	applied int
}

func (c *counter) step() step.Step[*result] {
	return step.Step[*result]{
		Plan: func(context.Context) (step.Plan[*result], error) {
			p := step.Plan[*result]{Question: "Remove them?", Preview: &result{DryRun: true, Files: c.files}}
			for _, f := range c.files {
				p.Changes = append(p.Changes, step.Change{Action: "remove", Target: f, Line: "remove " + f})
			}
			return p, nil
		},
		Apply: func(context.Context) (*result, error) {
			c.applied++
			return &result{Files: c.files}, nil
		},
	}
}

func TestConfirmPolicy(t *testing.T) {
	for _, tc := range []struct {
		name        string
		yes, dryRun bool
		format      output.Format
		kind        error
		applied     int
		stdout      string
	}{
		{name: "no --yes, no terminal: refused, plan shown", kind: fault.Refused, stdout: "would remove a"},
		{name: "no --yes, no terminal, json: refused, preview printed", format: output.JSON, kind: fault.Refused, stdout: `"dryRun": true`},
		{name: "--dry-run: the plan, success", dryRun: true, stdout: "would remove a"},
		{name: "--dry-run wins over --yes", dryRun: true, yes: true, stdout: "would remove a"},
		{name: "--yes: applied", yes: true, applied: 1, stdout: "removed a"},
		{name: "--yes, json: only the result", yes: true, format: output.JSON, applied: 1, stdout: `"dryRun": false`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ios, out, errOut := iostreams.Test()
			c := &counter{files: []string{"a", "b"}}
			f := tc.format
			if f == "" {
				f = output.Table
			}
			_, err := step.Run(context.Background(), step.Options{IO: ios, Format: f, Yes: tc.yes, DryRun: tc.dryRun}, c.step())
			if fault.Kind(err) != tc.kind || (tc.kind == nil) != (err == nil) {
				t.Fatalf("err %v (kind %v), want kind %v", err, fault.Kind(err), tc.kind)
			}
			if c.applied != tc.applied {
				t.Fatalf("applied %d times, want %d", c.applied, tc.applied)
			}
			if !strings.Contains(out.String(), tc.stdout) {
				t.Fatalf("stdout %q, want %q", out.String(), tc.stdout)
			}
			if f.Machine() {
				var r result
				if err := json.Unmarshal(out.Bytes(), &r); err != nil {
					t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
				}
			}
			if tc.kind == fault.Refused && !strings.Contains(err.Error(), "--yes") {
				t.Fatalf("refusal %q does not say how to go on", err)
			}
			t.Logf("stderr: %s", errOut)
		})
	}
}

func TestNothingToDoAsksNothing(t *testing.T) {
	ios, out, _ := iostreams.Test()
	c := &counter{}
	if _, err := step.Run(context.Background(), step.Options{IO: ios, Format: output.JSON}, c.step()); err != nil || c.applied != 0 {
		t.Fatalf("err %v, applied %d", err, c.applied)
	}
	if !strings.Contains(out.String(), `"dryRun": true`) {
		t.Fatalf("no preview: %s", out)
	}
}

// The prompt on a real terminal: "y" applies, "n" (or just Enter) aborts.
func TestPromptOnATerminal(t *testing.T) {
	for answer, want := range map[string]error{"y\n": nil, "yes\n": nil, "n\n": step.ErrAborted, "\n": step.ErrAborted} {
		tty, typed := steptest.Terminal(t)
		ios, _, errOut := iostreams.Test()
		ios.In = tty
		ios.SetTTY(true)
		if _, err := typed.WriteString(answer); err != nil {
			t.Fatal(err)
		}
		c := &counter{files: []string{"a"}}
		_, err := step.Run(context.Background(), step.Options{IO: ios, Format: output.Table}, c.step())
		if !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Fatalf("answer %q: err %v, want %v", answer, err, want)
		}
		if (c.applied == 1) != (want == nil) {
			t.Fatalf("answer %q: applied %d", answer, c.applied)
		}
		if !strings.Contains(errOut.String(), "Remove them? [y/N]") {
			t.Fatalf("answer %q: no question on stderr: %q", answer, errOut)
		}
		if want != nil && (fault.Kind(err) != fault.Refused || !strings.Contains(err.Error(), "aborted")) {
			t.Fatalf("answer %q: %v is not an 'aborted' refusal", answer, err)
		}
	}
}

// A failed apply still shows what it did before failing, and its error
// comes back as it was.
func TestFailedApplyRendersWhatWasDone(t *testing.T) {
	ios, out, _ := iostreams.Test()
	boom := fault.Mark(errors.New("disk full"), fault.Partial)
	s := step.Step[*result]{
		Plan: func(context.Context) (step.Plan[*result], error) {
			return step.Plan[*result]{Changes: []step.Change{{Line: "x"}}, Preview: &result{DryRun: true}}, nil
		},
		Apply: func(context.Context) (*result, error) { return &result{Files: []string{"done-before"}}, boom },
	}
	if _, err := step.Run(context.Background(), step.Options{IO: ios, Format: output.Table, Yes: true}, s); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(out.String(), "removed done-before") {
		t.Fatalf("stdout %q", out)
	}
	// Nil result: nothing printed.
	out.Reset()
	s.Apply = func(context.Context) (*result, error) { return nil, boom }
	if _, err := step.Run(context.Background(), step.Options{IO: ios, Format: output.JSON, Yes: true}, s); !errors.Is(err, boom) || out.Len() != 0 {
		t.Fatalf("err %v, stdout %q", err, out)
	}
}

// A direct step with --yes applies without planning first.
func TestDirectSkipsThePlan(t *testing.T) {
	ios, _, _ := iostreams.Test()
	planned := 0
	c := &counter{files: []string{"a"}}
	s := c.step()
	inner := s.Plan
	s.Plan = func(ctx context.Context) (step.Plan[*result], error) { planned++; return inner(ctx) }
	s.Direct = true
	if _, err := step.Run(context.Background(), step.Options{IO: ios, Format: output.Table, Yes: true}, s); err != nil || planned != 0 || c.applied != 1 {
		t.Fatalf("err %v, planned %d, applied %d", err, planned, c.applied)
	}
	if _, err := step.Run(context.Background(), step.Options{IO: ios, Format: output.Table, DryRun: true}, s); err != nil || planned != 1 || c.applied != 1 {
		t.Fatalf("dry run: err %v, planned %d, applied %d", err, planned, c.applied)
	}
}

// With -o json the plan is not on stdout before the question (stdout is one
// document: the result, or the plan if nothing is applied): the changes are
// listed on stderr for whoever is asked.
func TestMachinePromptListsTheChangesOnStderr(t *testing.T) {
	tty, typed := steptest.Terminal(t)
	ios, out, errOut := iostreams.Test()
	ios.In = tty
	ios.SetTTY(true)
	typed.WriteString("n\n")
	c := &counter{files: []string{"a", "b"}}
	if _, err := step.Run(context.Background(), step.Options{IO: ios, Format: output.JSON}, c.step()); !errors.Is(err, step.ErrAborted) {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(errOut.String(), "  remove a\n  remove b\nRemove them? [y/N]") {
		t.Fatalf("stderr %q", errOut)
	}
	var r result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || !r.DryRun {
		t.Fatalf("stdout %q: %v", out, err)
	}
}
