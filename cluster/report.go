package cluster

// StatusReport is the JSON/YAML contract of `etcdmedic status`. Field names
// are a published interface: add fields, never rename or drop them. Sizes are
// bytes, latencies seconds; a latency that could not be measured is null,
// never 0.
type StatusReport struct {
	ClusterID string         `json:"clusterId"`
	Leader    string         `json:"leader"`
	Quorum    QuorumReport   `json:"quorum"`
	Alarms    []AlarmReport  `json:"alarms"`
	Verdict   string         `json:"verdict"`
	Reasons   []string       `json:"reasons"`
	Members   []MemberReport `json:"members"`
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

// Report turns a snapshot into the status contract.
func (s *Snapshot) Report() StatusReport {
	v := s.Verdict()
	r := StatusReport{
		ClusterID: FormatID(s.Membership.ClusterID),
		Quorum:    QuorumReport{Voters: v.Voters, Reachable: v.Reachable, Needed: v.Quorum, Lost: v.QuorumLost},
		Alarms:    []AlarmReport{},
		Verdict:   v.Worst,
		Reasons:   append([]string{}, v.Reasons...),
		Members:   []MemberReport{},
	}
	if v.LeaderID != 0 {
		r.Leader = FormatID(v.LeaderID)
	}
	if v.QuorumLost || v.LeaderID == 0 || len(v.Alarms) > 0 {
		r.Verdict = VerdictCritical
	}
	for _, a := range v.Alarms {
		r.Alarms = append(r.Alarms, AlarmReport{MemberID: FormatID(a.MemberID), Alarm: a.Type})
	}
	for _, st := range s.Members {
		r.Members = append(r.Members, s.memberReport(st))
	}
	return r
}

func (s *Snapshot) memberReport(st *MemberStatus) MemberReport {
	m := st.Member
	verdict, reasons := s.MemberVerdict(st)
	mr := MemberReport{
		ID:          m.IDString(),
		Name:        m.Name,
		Endpoint:    m.Endpoint,
		IsLearner:   m.IsLearner,
		Alarms:      []string{},
		Verdict:     verdict,
		Reasons:     append([]string{}, reasons...),
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
		for _, a := range s.alarms() {
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
