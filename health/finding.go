// Package health turns what members report into findings: a check, how bad
// (ok / warn / crit / unknown), what was observed against which threshold, a
// one-line explanation and the exact command to run next.
//
// health is the one judge: Diagnose is the `etcdmedic doctor` checklist,
// Assess the checks one sample answers (status verdicts, the gates), and the
// gates filter those findings; all read one set of thresholds.
package health

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
)

type Severity int

// Ordered by how much they matter to the exit code; Unknown is handled apart:
// "cannot tell" is not "healthy", but it is not "broken" either.
const (
	OK Severity = iota
	Unknown
	Warn
	Crit
)

func (s Severity) String() string {
	switch s {
	case OK:
		return "ok"
	case Warn:
		return "warn"
	case Crit:
		return "crit"
	}
	return "unknown"
}

func (s Severity) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

func (s *Severity) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v {
	case "ok":
		*s = OK
	case "warn":
		*s = Warn
	case "crit":
		*s = Crit
	case "unknown":
		*s = Unknown
	default:
		return fmt.Errorf("unknown severity %q", v)
	}
	return nil
}

// Finding is one line of the checklist. Its JSON form is a contract.
type Finding struct {
	ID         string   `json:"id"`
	Severity   Severity `json:"severity"`
	Member     string   `json:"member,omitempty"`
	MemberName string   `json:"memberName,omitempty"`
	Observed   string   `json:"observed"`
	// Short is the finding in a few words, for a table cell or a status
	// reason: "frag 59.5% ≥ 50%".
	Short       string `json:"short,omitempty"`
	Threshold   string `json:"threshold,omitempty"`
	Explanation string `json:"explanation"`
	Advice      string `json:"advice,omitempty"`
}

// Reason is the finding in a few words: Short, else the check and what was observed.
func (f Finding) Reason() string {
	if f.Short != "" {
		return f.Short
	}
	return f.ID + ": " + f.Observed
}

// Report is the result of one doctor run.
type Report struct {
	ClusterID string `json:"clusterId"`
	// Node is set on a node-fitness report (doctor --node): it judges the
	// machine under a member, not a cluster.
	Node        bool      `json:"node,omitempty"`
	Preset      string    `json:"preset"`
	Severity    Severity  `json:"severity"`
	Findings    []Finding `json:"findings"`
	Started     time.Time `json:"started"`
	TookSeconds float64   `json:"tookSeconds"`
	// Sample is the last sample the findings were judged on (nil when no
	// member list came back), for the metrics written beside the findings.
	Sample *cluster.Sample `json:"-"`
}

// Worst returns the overall severity: crit > warn > unknown > ok.
func Worst(fs []Finding) Severity {
	worst := OK
	for _, f := range fs {
		if f.Severity > worst {
			worst = f.Severity
		}
	}
	return worst
}

// Counts returns how many findings have each severity.
func (r *Report) Counts() map[Severity]int {
	m := map[Severity]int{}
	for _, f := range r.Findings {
		m[f.Severity]++
	}
	return m
}
