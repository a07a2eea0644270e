package member

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// StartFlags are how the new member must start to join: etcd's own flags.
// Their JSON form is a contract.
type StartFlags struct {
	Name                     string `json:"name"`
	InitialCluster           string `json:"initialCluster"`
	InitialClusterState      string `json:"initialClusterState"`
	InitialAdvertisePeerURLs string `json:"initialAdvertisePeerURLs"`
	// Flags are the four as command-line arguments, in this order.
	Flags []string `json:"flags"`
}

// startFlags builds the flags from the member list etcd returned (existing
// members with their names, the new one with the name it will publish).
func startFlags(ms *cluster.Membership, newID uint64, name string, peerURLs []string) StartFlags {
	// By name, the new member last: etcd takes the list in any order, and
	// the plan's flags and the ones printed after the add (from etcd's
	// answer, in its own order) then read the same.
	members := slices.SortedFunc(slices.Values(ms.Members), func(a, b cluster.Member) int { return strings.Compare(a.Name, b.Name) })
	var initial []string
	for _, m := range members {
		if m.ID == newID {
			continue
		}
		for _, u := range m.PeerURLs {
			initial = append(initial, m.Name+"="+u)
		}
	}
	for _, u := range peerURLs {
		initial = append(initial, name+"="+u)
	}
	s := StartFlags{Name: name, InitialCluster: strings.Join(initial, ","), InitialClusterState: "existing", InitialAdvertisePeerURLs: strings.Join(peerURLs, ",")}
	s.Flags = []string{"--name=" + s.Name, "--initial-cluster=" + s.InitialCluster, "--initial-cluster-state=" + s.InitialClusterState, "--initial-advertise-peer-urls=" + s.InitialAdvertisePeerURLs}
	return s
}

// Gate is a fresh look at every member, judged: the findings status and
// doctor show, and the gate's refusal (nil when it holds).
type Gate struct {
	Snapshot *cluster.Sample
	Findings []health.Finding
	Refusal  *health.Refusal
}

// Err is the refusal as an error marked Refused, nil when the gate holds.
func (g *Gate) Err(what string) error {
	if g.Refusal == nil {
		return nil
	}
	err := fmt.Errorf("%s: refused by the gate (%s): %w", what, g.Refusal.Gate, g.Refusal)
	if electing(g.Refusal) {
		// Judged again for electionSettle: an election (or a loaded
		// machine's slow one) is still under way, which passes.
		err = fmt.Errorf("%w; no leader settled within %s: run this again once one is", err, electionSettle)
	}
	return fault.Mark(err, fault.Refused)
}

// electionSettle bounds how long a gate refused for want of one leader is
// judged again: a leader that died or stepped down is replaced within a few
// election timeouts, and a change judged mid-election would be refused for
// a state that lasts a second (or pass on a leader that is already gone).
const electionSettle = 5 * time.Second

// Judge samples every member (Status, one read each) and checks the gate on
// the findings, with the member list's own findings first. While the gate
// refuses because no leader is agreed on, it looks again, up to
// electionSettle.
func Judge(ctx context.Context, c *cluster.Cluster, ms *cluster.Membership, gate health.Gate, t health.Thresholds) *Gate {
	deadline := time.Now().Add(electionSettle)
	for {
		g := judgeOnce(ctx, c, ms, gate, t)
		if !electing(g.Refusal) || time.Now().After(deadline) {
			return g
		}
		select {
		case <-ctx.Done():
			return g
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// electing: the refusal is what an election under way looks like: no
// leader, members that disagree on it, or voters that answer Status but
// whose linearizable reads time out (they still follow a leader that is
// gone until their election timeout fires). A voter that answers nothing
// is hung or gone, not electing: looking again would only wait.
func electing(r *health.Refusal) bool {
	if r == nil {
		return false
	}
	silent := r.Silent()
	for _, f := range r.Findings {
		if f.ID == "quorum.leader" || f.ID == "reads.linearizable" && !silent[f.Member] {
			return true
		}
	}
	return false
}

func judgeOnce(ctx context.Context, c *cluster.Cluster, ms *cluster.Membership, gate health.Gate, t health.Thresholds) *Gate {
	reads := make(chan map[uint64]health.ReadResult, 1)
	go func() { reads <- health.ReadEach(ctx, c, ms) }()
	snap := c.Probe(ctx, ms, cluster.ProbeOptions{SkipMetrics: true})
	fs := append(health.AssessMembers(ms, ""), health.Assess(snap, health.SampleOptions{Thresholds: t, Reads: <-reads})...)
	return &Gate{Snapshot: snap, Findings: fs, Refusal: gate.Check(snap, fs)}
}

// AddOptions describe the new member.
type AddOptions struct {
	Name       string
	PeerURLs   []string
	Thresholds health.Thresholds
	// Retry bounds how long an add refused as "unhealthy cluster" is tried
	// again: etcd counts a peer as connected only after 5 s, so a member
	// that just restarted (or just applied a snapshot) makes adds fail for
	// a moment.
	Retry time.Duration
	// OnRefused hears, once, that etcd refused the add for now and it is
	// being tried again: the wait is etcd's, seconds long, and a person at
	// the terminal should not take it for a hang.
	OnRefused func(reason string)
}

// Added is a learner in the member list, and how it must start.
type Added struct {
	ID     uint64
	Member cluster.Member
	Start  StartFlags
}

// PlanAdd checks the new member against the member list and the gate, and
// changes nothing.
func PlanAdd(ctx context.Context, c *cluster.Cluster, o AddOptions) (*cluster.Membership, *Gate, error) {
	if err := ValidateNew(o.Name, o.PeerURLs); err != nil {
		return nil, nil, err
	}
	ms, err := c.Members(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := CheckNew(ms, o.Name, o.PeerURLs); err != nil {
		return nil, nil, ms.Explain(err)
	}
	// The gate before the one-cluster check: both wait for a hung member,
	// and in this order the waits overlap.
	g := Judge(ctx, c, ms, health.AddLearner, o.Thresholds)
	if err := ms.OneCluster(); err != nil {
		return nil, nil, err
	}
	return ms, g, nil
}

// Add adds the member as a learner once the gate holds. A learner does not
// count for quorum, so a new member that never starts costs no margin.
func Add(ctx context.Context, c *cluster.Cluster, o AddOptions) (*Added, error) {
	ms, g, err := PlanAdd(ctx, c, o)
	if err != nil {
		return nil, err
	}
	if err := g.Err("add " + o.Name); err != nil {
		return nil, err
	}
	resp, err := addOnVoters(ctx, c, ms, o)
	if err != nil {
		return nil, err
	}
	after := &cluster.Membership{ClusterID: ms.ClusterID}
	for _, pm := range resp.Members {
		after.Members = append(after.Members, cluster.Member{ID: pm.GetID(), Name: pm.GetName(), PeerURLs: pm.GetPeerURLs(), ClientURLs: pm.GetClientURLs(), IsLearner: pm.GetIsLearner()})
	}
	id := resp.Member.GetID()
	m, _ := after.Get(id)
	waitListed(ctx, c, ms, id)
	return &Added{ID: id, Member: m, Start: startFlags(after, id, o.Name, o.PeerURLs)}, nil
}

// waitListed returns once every started member's own (serializable) member
// list holds id, or after one --command-timeout: a `member list` or
// `promote` run right after the add then finds the learner whichever member
// answers first. A member that does not answer is not waited for longer.
func waitListed(ctx context.Context, c *cluster.Cluster, ms *cluster.Membership, id uint64) {
	ctx, cancel := c.WithCommandTimeout(ctx)
	defer cancel()
	for _, o := range ms.Members {
		if !o.Started() || o.Endpoint == "" {
			continue
		}
		for ctx.Err() == nil {
			cli, err := c.Client(ctx, o.Endpoint)
			if err != nil {
				break
			}
			resp, err := cli.MemberList(ctx, clientv3.WithSerializable())
			if err != nil {
				break
			}
			if slices.ContainsFunc(resp.Members, func(pm *etcdserverpb.Member) bool { return pm.GetID() == id }) {
				break
			}
			time.Sleep(20 * time.Millisecond) // poll: the member applies the change within a heartbeat or two
		}
	}
}

// retriable are etcd's refusals that pass once members have been connected
// long enough.
func retriable(err error) bool {
	s := err.Error()
	return strings.Contains(s, "unhealthy cluster") || strings.Contains(s, "not enough started members")
}

func classifyAdd(o AddOptions, err error) error {
	s := err.Error()
	switch {
	case strings.Contains(s, "Peer URLs already exists"):
		return fault.Mark(fmt.Errorf("add %s: peer URL already used by a member: %w", o.Name, err), fault.Invalid)
	case strings.Contains(s, "given member URLs are invalid"):
		return fault.Mark(fmt.Errorf("add %s: %w", o.Name, err), fault.Invalid)
	case strings.Contains(s, "too many learner members"), retriable(err):
		return fault.Mark(fmt.Errorf("add %s: etcd refused: %w", o.Name, err), fault.Refused)
	case errors.Is(err, context.Canceled):
		return fault.Mark(fmt.Errorf("add %s: %w", o.Name, err), fault.Failed)
	}
	return fault.Mark(fmt.Errorf("add %s: %w", o.Name, err), fault.Failed)
}

// PlannedStartFlags are the start flags the member would get if added now.
func PlannedStartFlags(ms *cluster.Membership, name string, peerURLs []string) StartFlags {
	return startFlags(ms, 0, name, peerURLs)
}
