package member

import (
	"context"
	"sort"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/health"
)

// Row is one member of `member list`. Its JSON form is a contract.
type Row struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	// Role is "voter" or "learner".
	Role      string `json:"role"`
	IsLearner bool   `json:"isLearner"`
	// Started: the member has run and published its name; an added member
	// that never started has neither name nor client URLs.
	Started   bool `json:"started"`
	Reachable bool `json:"reachable"`
	// Stale: listed and started, but it did not answer Status for a whole
	// probe (--command-timeout): dead, or left behind by a replacement.
	Stale        bool   `json:"stale"`
	IsLeader     bool   `json:"isLeader"`
	AppliedIndex uint64 `json:"appliedIndex"`
	// Lag is how far its applied index trails the leader's commit index;
	// null when either is unknown.
	Lag    *uint64 `json:"lag"`
	DBSize int64   `json:"dbSize"`
	Error  string  `json:"error,omitempty"`
}

// Listing is the member list with each member's own answer.
type Listing struct {
	ClusterID string `json:"clusterId"`
	// Leader is the leader's ID, "" when no voter says it leads.
	Leader               string `json:"leader"`
	LeaderCommittedIndex uint64 `json:"leaderCommittedIndex"`
	// Quorum counts the voters that answered, as status does: with it lost
	// no membership change can commit, a stale member's removal included.
	Quorum  health.QuorumReport `json:"quorum"`
	Members []Row               `json:"members"`
}

// List reads the member list and probes every member once.
func List(ctx context.Context, c *cluster.Cluster) (*Listing, error) {
	ms, err := c.Members(ctx)
	if err != nil {
		return nil, err
	}
	return ListOf(c.Probe(ctx, ms, cluster.ProbeOptions{SkipMetrics: true})), nil
}

// ListOf is the listing of one sample, ordered by member ID.
func ListOf(snap *cluster.Sample) *Listing {
	q := snap.QuorumState()
	l := &Listing{ClusterID: cluster.FormatID(snap.Membership.ClusterID), Members: []Row{},
		Quorum: health.QuorumReport{Voters: q.Voters, Reachable: q.Reachable, Needed: q.Needed, Lost: q.Lost}}
	var committed uint64
	if lead := leaderOf(snap); lead != nil {
		l.Leader = lead.Member.IDString()
		committed = lead.Status.GetRaftIndex()
		l.LeaderCommittedIndex = committed
	}
	for _, st := range snap.Members {
		m := st.Member
		r := Row{ID: m.IDString(), Name: m.Name, PeerURLs: nonNil(m.PeerURLs), ClientURLs: nonNil(m.ClientURLs),
			Role: "voter", IsLearner: m.IsLearner, Started: m.Started(), Reachable: st.OK(), IsLeader: st.IsLeader()}
		if m.IsLearner {
			r.Role = "learner"
		}
		if st.OK() {
			r.AppliedIndex = st.Status.GetRaftAppliedIndex()
			r.DBSize = st.Status.GetDbSize()
			if committed > 0 {
				lag := uint64(0)
				if committed > r.AppliedIndex {
					lag = committed - r.AppliedIndex
				}
				r.Lag = &lag
			}
		} else {
			r.Stale = r.Started
			if st.Err != nil {
				r.Error = st.Err.Error()
			}
		}
		l.Members = append(l.Members, r)
	}
	sort.Slice(l.Members, func(i, j int) bool { return l.Members[i].ID < l.Members[j].ID })
	return l
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
