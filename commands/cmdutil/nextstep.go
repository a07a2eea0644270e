package cmdutil

import (
	"errors"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/health"
)

// DoctorCommand is doctor reaching the cluster as this run did (its
// connection flags), plus extra (a --preset or --set it judged with): the
// next step of a command that found the cluster unhealthy.
func DoctorCommand(cfg *cluster.Config, extra ...string) string {
	args := append([]string{"etcdmedic", "doctor"}, cfg.ConnectionArgs()...)
	return cluster.ShellJoin(append(args, extra...))
}

// NextStep is the command printed under an error a gate's refusal caused:
// doctor, which names every finding and the command that fixes it. None
// when the cluster is healthy but too small for the change (doctor would
// find nothing) or when the run never resolved a connection.
func (f *Factory) NextStep(err error) string {
	var r *health.Refusal
	if !errors.As(err, &r) || f.resolved == nil || len(r.Findings) == 0 && r.NoSpareVoter {
		return ""
	}
	return DoctorCommand(f.resolved)
}

// suggested is an error with next steps of its command's own, printed
// under it before doctor's: what this run's input makes exact.
type suggested struct {
	err   error
	steps []string
}

func (s *suggested) Error() string { return s.err.Error() }
func (s *suggested) Unwrap() error { return s.err }

// Suggest attaches next steps to err (its exit code and message unchanged).
func Suggest(err error, steps ...string) error {
	if err == nil || len(steps) == 0 {
		return err
	}
	return &suggested{err: err, steps: steps}
}

// Suggestions are the next steps attached to err by Suggest.
func Suggestions(err error) []string {
	var s *suggested
	if errors.As(err, &s) {
		return s.steps
	}
	return nil
}
