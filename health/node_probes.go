package health

import (
	"fmt"
	"strconv"

	"github.com/etcdmedic/etcdmedic/internal/humanize"
)

// ProbeBudgetID is the finding `breakglass probes`, `doctor --node` and
// `doctor` on a kubeadm node report alike.
const ProbeBudgetID = "node.probeBudget"

// ProbeFacts are the etcd static pod's probe budgets (initialDelay +
// failureThreshold × period, the kubelet's defaults for unset fields) and
// what this member needs to start. breakglass reads them from the manifest
// and the data dir; health judges them, so every command says the same.
type ProbeFacts struct {
	Manifest                        string
	HasLiveness, HasStartup         bool
	LivenessSeconds, StartupSeconds float64
	DBBytes, WALBytes               int64
	// ReadBytesPerSecond is the data dir's measured sequential read rate;
	// 0 when the expected start was given instead.
	ReadBytesPerSecond   float64
	ExpectedStartSeconds float64
	// Relax is the command that writes a startup probe sized to the start,
	// with the flags in effect (advice).
	Relax string
}

// Guard is the budget the start must fit in: the startup probe's, else the
// liveness probe's (without a startup probe it runs from the start).
func (p ProbeFacts) Guard() (string, float64) {
	if p.HasStartup {
		return "startup", p.StartupSeconds
	}
	return "liveness", p.LivenessSeconds
}

func probeThreshold(t Thresholds) string {
	return fmt.Sprintf("warn: budget < %s × the expected start ((DB + WAL) ÷ sequential read rate)", strconv.FormatFloat(t.ProbeMargin, 'g', -1, 64))
}

// JudgeProbeBudget sets the probe budget against the expected start: a
// member that cannot read its data back before the probe gives up is killed
// and restarted over and over (kubernetes/kubeadm#2759).
func JudgeProbeBudget(p ProbeFacts, t Thresholds) Finding {
	f := Finding{ID: ProbeBudgetID, Member: p.Manifest, Threshold: probeThreshold(t)}
	how := "given"
	if p.ReadBytesPerSecond > 0 {
		how = fmt.Sprintf("DB %s + WAL %s at %s/s", humanize.Bytes(p.DBBytes), humanize.Bytes(p.WALBytes), humanize.Bytes(int64(p.ReadBytesPerSecond)))
	}
	guard, budget := p.Guard()
	switch {
	case !p.HasStartup && !p.HasLiveness:
		f.Severity, f.Observed = OK, fmt.Sprintf("no liveness or startup probe: nothing kills a slow start (expected start %.0fs, %s)", p.ExpectedStartSeconds, how)
		f.Explanation = "without probes the kubelet never kills etcd for starting slowly"
		return f
	case budget >= t.ProbeMargin*p.ExpectedStartSeconds:
		f.Severity = OK
		f.Observed = fmt.Sprintf("the %s probe allows %.0fs, the expected start is %.0fs (%s)", guard, budget, p.ExpectedStartSeconds, how)
		f.Explanation = "this member can read its data back before the probe gives up"
		return f
	}
	f.Severity = Warn
	f.Short = fmt.Sprintf("%s budget %.0fs < start %.0fs", guard, budget, p.ExpectedStartSeconds)
	f.Observed = fmt.Sprintf("the %s probe allows %.0fs but this member needs about %.0fs to start (%s)", guard, budget, p.ExpectedStartSeconds, how)
	f.Explanation = "at its next restart the kubelet kills etcd before it has read its data back, over and over: a member that never returns"
	f.Advice = p.Relax
	return f
}

// ProbeBudgetUnknown is the finding when the manifest or the data dir could
// not be read or measured.
func ProbeBudgetUnknown(manifest string, err error) Finding {
	return Finding{ID: ProbeBudgetID, Member: manifest, Severity: Unknown, Observed: err.Error(), Short: "probe budget unknown",
		Explanation: "the etcd static pod's probes could not be set against this member's start time"}
}

// AddFindings adds findings judged apart from the run (the local probe
// budget beside a cluster report) and recomputes the report's severity.
func AddFindings(r *Report, fs ...Finding) {
	r.Findings = append(r.Findings, fs...)
	r.Severity = Worst(r.Findings)
}
