package health

import (
	"errors"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// StatusReport is the JSON/YAML contract of `etcdmedic status`. Field names
// are a published interface: add fields, never rename or drop them. Sizes are
// bytes, latencies seconds; a latency that could not be measured is null,
// never 0. Verdicts are the roll-up of the findings (Assess), the same checks
// and thresholds doctor and the gates use.
type StatusReport struct {
	ClusterID string         `json:"clusterId"`
	Leader    string         `json:"leader"`
	Quorum    QuorumReport   `json:"quorum"`
	Alarms    []AlarmReport  `json:"alarms"`
	Verdict   string         `json:"verdict"`
	Reasons   []string       `json:"reasons"`
	Members   []MemberReport `json:"members"`
	// Findings are the checks that are not ok, as doctor reports them.
	Findings []Finding `json:"findings"`
	// Error says why nothing could be asked (no endpoint answered the member list).
	Error string `json:"error,omitempty"`

	// Severity is the cluster verdict's, for the exit code.
	Severity Severity `json:"-"`
}

type QuorumReport struct {
	Voters    int  `json:"voters"`
	Reachable int  `json:"reachable"`
	Needed    int  `json:"needed"`
	Lost      bool `json:"lost"`
}

type AlarmReport struct {
	MemberID string `json:"memberId"`
	Alarm    string `json:"alarm"`
}

type MemberReport struct {
	ID                      string   `json:"id"`
	Name                    string   `json:"name"`
	Endpoint                string   `json:"endpoint"`
	Version                 string   `json:"version"`
	IsLeader                bool     `json:"isLeader"`
	IsLearner               bool     `json:"isLearner"`
	DBSize                  int64    `json:"dbSize"`
	DBSizeInUse             int64    `json:"dbSizeInUse"`
	Fragmentation           float64  `json:"fragmentation"`
	Quota                   int64    `json:"quota"`
	QuotaSource             string   `json:"quotaSource"`
	QuotaUsage              float64  `json:"quotaUsage"`
	RaftTerm                uint64   `json:"raftTerm"`
	RaftIndex               uint64   `json:"raftIndex"`
	RaftAppliedIndex        uint64   `json:"raftAppliedIndex"`
	Alarms                  []string `json:"alarms"`
	WALFsyncP99Seconds      *float64 `json:"walFsyncP99Seconds"`
	BackendCommitP99Seconds *float64 `json:"backendCommitP99Seconds"`
	Verdict                 string   `json:"verdict"`
	Reasons                 []string `json:"reasons"`
	Error                   string   `json:"error"`
	MetricsError            string   `json:"metricsError,omitempty"`
	TookSeconds             float64  `json:"tookSeconds"`
}

// Status judges one sample and returns the status contract.
func Status(snap *cluster.Sample, o SampleOptions) StatusReport {
	fs := Assess(snap, o)
	cv := ClusterVerdictOf(snap, fs)
	q := snap.QuorumState()
	r := StatusReport{
		ClusterID: cluster.FormatID(snap.Membership.ClusterID),
		Quorum:    QuorumReport{Voters: q.Voters, Reachable: q.Reachable, Needed: q.Needed, Lost: q.Lost},
		Alarms:    []AlarmReport{},
		Verdict:   cv.Verdict,
		Reasons:   append([]string{}, cv.Reasons...),
		Members:   []MemberReport{},
		Findings:  []Finding{},
		Severity:  cv.Severity,
	}
	if lead, _ := snap.Leader(); lead != 0 {
		r.Leader = cluster.FormatID(lead)
	}
	for _, a := range snap.Alarms() {
		r.Alarms = append(r.Alarms, AlarmReport{MemberID: cluster.FormatID(a.MemberID), Alarm: a.Type})
	}
	for _, f := range fs {
		if f.Severity != OK {
			r.Findings = append(r.Findings, f)
		}
	}
	for _, st := range snap.Members {
		r.Members = append(r.Members, memberReport(snap, st, MemberVerdictOf(st, fs)))
	}
	return r
}

// Unanswered is the status contract when no endpoint answered the member
// list: still one document, saying why.
func Unanswered(err error) StatusReport {
	verdict := VerdictUnreachable
	if errors.Is(err, cluster.ErrAuth) {
		verdict = VerdictUnknown
	}
	return StatusReport{Alarms: []AlarmReport{}, Members: []MemberReport{}, Findings: []Finding{},
		Verdict: verdict, Reasons: []string{err.Error()}, Error: err.Error(), Severity: Unknown}
}

func memberReport(snap *cluster.Sample, st *cluster.MemberStatus, v MemberVerdict) MemberReport {
	m := st.Member
	mr := MemberReport{
		ID:          m.IDString(),
		Name:        m.Name,
		Endpoint:    m.Endpoint,
		IsLearner:   m.IsLearner,
		Alarms:      []string{},
		Verdict:     v.Verdict,
		Reasons:     append([]string{}, v.Reasons...),
		QuotaSource: st.QuotaSource,
		Quota:       st.Quota,
		TookSeconds: st.Took.Seconds(),
	}
	if st.Err != nil {
		mr.Error = st.Err.Error()
	}
	if st.MetricsErr != nil {
		mr.MetricsError = st.MetricsErr.Error()
	}
	if st.OK() {
		sr := st.Status
		mr.Version = sr.GetVersion()
		mr.IsLeader = st.IsLeader()
		mr.IsLearner = m.IsLearner || sr.GetIsLearner()
		mr.DBSize = sr.GetDbSize()
		mr.DBSizeInUse = sr.GetDbSizeInUse()
		mr.Fragmentation = st.Fragmentation()
		mr.QuotaUsage = st.QuotaUsage()
		mr.RaftTerm = sr.GetRaftTerm()
		mr.RaftIndex = sr.GetRaftIndex()
		mr.RaftAppliedIndex = sr.GetRaftAppliedIndex()
		for _, a := range snap.Alarms() {
			if a.MemberID == m.ID {
				mr.Alarms = append(mr.Alarms, a.Type)
			}
		}
	}
	if p, ok := st.WALFsyncP99(); ok {
		mr.WALFsyncP99Seconds = &p
	}
	if p, ok := st.BackendCommitP99(); ok {
		mr.BackendCommitP99Seconds = &p
	}
	return mr
}
