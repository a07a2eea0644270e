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
