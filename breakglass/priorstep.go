package breakglass

import (
	"errors"
	"strings"
)

// PriorStepError is a refusal because an earlier step of the runbook has not
// run. Step is that step's command without flags: the command layer prints
// it with the layout and connection flags in effect, which only it knows
// (a bare 'etcdmedic breakglass etcd-only' pasted after a --root run would
// edit this machine's own manifests).
type PriorStepError struct {
	err  error
	Step []string
}

func (e *PriorStepError) Error() string { return e.err.Error() }
func (e *PriorStepError) Unwrap() error { return e.err }

// needsStep wraps err, which should say what is missing, with the step that
// provides it.
func needsStep(err error, step ...string) error {
	return &PriorStepError{err: err, Step: step}
}

// PriorStep returns the step a refusal asks to run first, nil for any other error.
func PriorStep(err error) []string {
	var p *PriorStepError
	if errors.As(err, &p) {
		return p.Step
	}
	return nil
}

// stepName is how a message names a step: "the 'breakglass etcd-only' step".
func stepName(step ...string) string { return "the '" + strings.Join(step, " ") + "' step" }
