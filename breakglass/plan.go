package breakglass

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Step states in the runbook.
const (
	StateDone    = "done"
	StateNext    = "next"
	StatePending = "pending"
)

// ManifestInfo is one static-pod file, for plan.
type ManifestInfo struct {
	Path       string `json:"path"`
	Component  string `json:"component"`
	SHA256     string `json:"sha256"`
	BreakGlass bool   `json:"breakGlass"`
}

// PlanStep is one runbook step with the exact command.
type PlanStep struct {
	Step    int    `json:"step"`
	Title   string `json:"title"`
	Command string `json:"command"`
	State   string `json:"state"`
	Detail  string `json:"detail,omitempty"`
	// Member is the lost member a rejoin step brings back.
	Member string `json:"member,omitempty"`

	rejoin int // rejoinAdd, rejoinPromote
}

// PlanReport is what plan found on the node and the runbook it derives.
type PlanReport struct {
	Root             string         `json:"root"`
	ManifestDir      string         `json:"manifestDir"`
	ManifestDirFrom  string         `json:"manifestDirSource"`
	Distribution     string         `json:"distribution"`
	QuarantineDir    string         `json:"quarantineDir"`
	Journal          string         `json:"journal"`
	Manifests        []ManifestInfo `json:"manifests"`
	Quarantined      []ManifestInfo `json:"quarantined"`
	EtcdDataDir      string         `json:"etcdDataDir,omitempty"`
	EtcdDataDirBytes int64          `json:"etcdDataDirBytes"`
	Health           string         `json:"health,omitempty"` // filled by the caller when etcd answers
	JournalEntries   int            `json:"journalEntries"`
	Steps            []PlanStep     `json:"steps"`
	// Rejoin: the members the journal's newest force-new-cluster left out,
	// and how each comes back.
	Rejoin []Rejoin `json:"rejoin,omitempty"`

	lost int // members the newest force left out, named or not
}

// CommandLine writes one runbook command, `etcdmedic <args>`, carrying the
// flags in effect (the layout for breakglass steps, the connection for those
// that reach etcd): only the command layer knows them.
type CommandLine func(args ...string) string

// Plan inspects the node and lays out the runbook, marking what the
// directory and the journal say is done. A nil command writes bare commands.
func Plan(l *Layout, j *Journal, command CommandLine) (*PlanReport, error) {
	if command == nil {
		command = func(args ...string) string { return "etcdmedic " + strings.Join(args, " ") }
	}
	ms, err := l.manifests()
	if err != nil {
		return nil, err
	}
	entries, err := j.Read()
	if err != nil {
		return nil, err
	}
	r := &PlanReport{Root: l.Root, ManifestDir: l.Rel(l.ManifestDir), ManifestDirFrom: l.StaticPodPathSource, Distribution: l.Distribution,
		QuarantineDir: l.Rel(l.QuarantineDir), Journal: l.Rel(j.Path()), JournalEntries: len(entries)}
	others, bg := 0, false
	for _, m := range ms {
		r.Manifests = append(r.Manifests, ManifestInfo{Path: l.Rel(m.Path), Component: m.Component, SHA256: m.SHA256, BreakGlass: m.IsBreakGlass()})
		switch {
		case m.IsBreakGlass():
			bg = true
		case m.Component == Etcd:
			if dd := l.etcdDataDir(m); dd != "" {
				r.EtcdDataDir = dd
				if real, err := l.Resolve(dd); err == nil {
					r.EtcdDataDirBytes = dirSize(real)
				}
			}
		default:
			others++
		}
	}
	if q, err := os.ReadDir(l.QuarantineDir); err == nil {
		for _, e := range q {
			p := filepath.Join(l.QuarantineDir, e.Name())
			if data, err := os.ReadFile(p); err == nil {
				if m, err := ParseManifest(p, data); err == nil {
					r.Quarantined = append(r.Quarantined, ManifestInfo{Path: l.Rel(p), Component: m.Component, SHA256: m.SHA256})
				}
			}
		}
	}
	undone := Undone(entries)
	did := func(action string) bool {
		for _, e := range entries {
			if e.Action == action && e.Result == ResultOK && !undone[e.Seq] {
				return true
			}
		}
		return false
	}
	r.Steps = []PlanStep{
		{Title: "Stop every control-plane component but etcd (manifests moved out, journaled)", Command: command("breakglass", "etcd-only"), State: state(others == 0), Detail: distroCaveat(l.Distribution)},
		{Title: "Start a kube-apiserver bound to 127.0.0.1, throttled, no webhooks, no watch cache", Command: command("breakglass", "apiserver", "--localhost"), State: state(bg)},
		{Title: "Purge stale pods straight from etcd (--dry-run first, then --yes)", Command: command("breakglass", "purge-pods", "--dry-run"), State: state(did(ActPurge))},
		{Title: "Compact and defragment, one member at a time", Command: command("defrag", "--compact"), State: StatePending, Detail: "check with '" + command("status") + "' (fragmentation)"},
		{Title: "Raise the apiserver's inflight limits step by step, gated on etcd health", Command: command("breakglass", "ramp", "--to", "400", "--steps", "4"), State: state(did(ActRamp))},
		{Title: "Bring the control plane back: original manifests restored, break-glass apiserver removed", Command: command("breakglass", "undo"), State: StatePending},
	}
	steps := forceFlagSteps(l, j, command)
	lost := lostByForce(entries)
	r.lost = len(lost)
	if r.Rejoin = RejoinCommands(lost, command); len(r.Rejoin) > 0 {
		steps = append(steps, rejoinSteps(r.Rejoin, command)...)
	}
	r.Steps = number(append(steps, r.Steps...))
	return r, nil
}

func state(done bool) string {
	if done {
		return StateDone
	}
	return StatePending
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
