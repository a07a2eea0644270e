package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// Member is one etcd member, identified by its member ID. Several client URLs
// of one member are still one member.
type Member struct {
	ID         uint64
	Name       string
	ClientURLs []string
	PeerURLs   []string
	IsLearner  bool
	// Endpoint is the URL this tool talks to the member on: one the user gave,
	// if it answered as this member, else the first advertised client URL.
	Endpoint string
	// MetricsURL is where the member's /metrics is scraped.
	MetricsURL string
}

// IDString is the member ID as etcd prints it (hex), safe for jq and JavaScript.
func (m Member) IDString() string { return FormatID(m.ID) }

// Started reports whether the member has joined (an added but unstarted member has no name or client URLs).
func (m Member) Started() bool { return len(m.ClientURLs) > 0 }

// Label is how a member is named to people: its name, else its ID.
func (m Member) Label() string {
	if m.Name != "" {
		return m.Name
	}
	return m.IDString()
}

func FormatID(id uint64) string { return fmt.Sprintf("%016x", id) }

// Membership is the member list as one member reported it.
type Membership struct {
	ClusterID uint64
	Members   []Member
	// AnsweredBy is the endpoint whose MemberList was used.
	AnsweredBy string

	endpoints *endpointCheck // the other configured endpoints' answers
}

// Voters returns the members that count for quorum.
func (ms *Membership) Voters() []Member {
	var out []Member
	for _, m := range ms.Members {
		if !m.IsLearner {
			out = append(out, m)
		}
	}
	return out
}

// Quorum is the number of voters that must agree for the cluster to make progress.
func (ms *Membership) Quorum() int { return Quorum(len(ms.Voters())) }

// Quorum of n voters.
func Quorum(voters int) int { return voters/2 + 1 }

// Get returns the member with the given ID.
func (ms *Membership) Get(id uint64) (Member, bool) {
	for _, m := range ms.Members {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

// Find resolves a member by ID (hex), name or client URL.
func (ms *Membership) Find(ref string) (Member, bool) {
	for _, m := range ms.Members {
		if strings.EqualFold(m.IDString(), ref) || strings.EqualFold(strings.TrimLeft(m.IDString(), "0"), strings.TrimLeft(ref, "0")) && ref != "" {
			return m, true
		}
	}
	for _, m := range ms.Members {
		if m.Name == ref || slices.Contains(m.ClientURLs, ref) {
			return m, true
		}
	}
	return Member{}, false
}

// Members asks every configured endpoint in parallel for the member list and
// uses the first answer, so one hung endpoint never delays discovery. The list
// is read serializably: it must work when quorum is lost, which is exactly
// when on-call needs it. The other endpoints' answers are still collected
// (each within --command-timeout), so Foreign can say whether every endpoint
// the user gave belongs to the cluster that answered; once a OneCluster
// check of this run has passed for that cluster, they are not waited for again.
func (c *Cluster) Members(ctx context.Context) (*Membership, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Config.CommandTimeout)

	type answer struct {
		endpoint string
		resp     *clientv3.MemberListResponse
		err      error
	}
	answers := make(chan answer, len(c.Config.Endpoints))
	for _, ep := range c.Config.Endpoints {
		go func() {
			cli, err := c.Client(ctx, ep)
			if err != nil {
				answers <- answer{endpoint: ep, err: err}
				return
			}
			resp, err := cli.MemberList(ctx, clientv3.WithSerializable())
			if err != nil {
				err = c.fail(ep, err)
			}
			answers <- answer{endpoint: ep, resp: resp, err: err}
		}()
	}
	var errs []error
	for i := range c.Config.Endpoints {
		a := <-answers
		if a.err != nil {
			c.Log.Debug("member list failed", "endpoint", a.endpoint, "err", a.err)
			errs = append(errs, a.err)
			continue
		}
		ms := c.membership(a.endpoint, a.resp)
		if c.checkedOneCluster(ms.ClusterID) {
			cancel()
			return ms, nil
		}
		check := &endpointCheck{done: make(chan struct{}), passed: func() { c.setOneCluster(ms.ClusterID) }}
		ms.endpoints = check
		go func(left int) {
			defer cancel()
			defer close(check.done)
			for range left {
				o := <-answers
				if o.err == nil && o.resp.Header.GetClusterId() != ms.ClusterID {
					check.foreign = append(check.foreign, ForeignEndpoint{Endpoint: o.endpoint, ClusterID: o.resp.Header.GetClusterId()})
				}
			}
			sort.Slice(check.foreign, func(i, j int) bool { return check.foreign[i].Endpoint < check.foreign[j].Endpoint })
		}(len(c.Config.Endpoints) - i - 1)
		return ms, nil
	}
	cancel()
	return nil, fmt.Errorf("list members: %w", joinSame(errs))
}

// ForeignEndpoint is a configured endpoint that answers for another cluster.
type ForeignEndpoint struct {
	Endpoint  string
	ClusterID uint64
}

type endpointCheck struct {
	done    chan struct{}
	foreign []ForeignEndpoint
	passed  func()
}

func (c *Cluster) checkedOneCluster(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.oneCluster != 0 && c.oneCluster == id
}

func (c *Cluster) setOneCluster(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.oneCluster = id
}

// Foreign lists the configured endpoints that answered the member list for
// a different cluster than this one, waiting (within --command-timeout of
// Members) for every endpoint to answer or fail. Endpoints that did not
// answer are not foreign: their members' own probes say why.
func (ms *Membership) Foreign() []ForeignEndpoint {
	if ms.endpoints == nil {
		return nil
	}
	<-ms.endpoints.done
	return ms.endpoints.foreign
}

// ErrMixedClusters means the endpoints given belong to more than one cluster.
var ErrMixedClusters = errors.New("the endpoints belong to different clusters")

// OneCluster refuses to work on a membership some of whose configured
// endpoints belong to another cluster: which cluster would be changed would
// depend on which endpoint answered first.
// Explain is err, unless the endpoints belong to more than one cluster:
// then that is the error, since a lookup that failed in one cluster's list
// (a member unknown, a name taken, a last voter) may be fine in the other's.
func (ms *Membership) Explain(err error) error {
	if oerr := ms.OneCluster(); oerr != nil {
		return oerr
	}
	return err
}

func (ms *Membership) OneCluster() error {
	foreign := ms.Foreign()
	if len(foreign) == 0 {
		if ms.endpoints != nil && ms.endpoints.passed != nil {
			ms.endpoints.passed()
		}
		return nil
	}
	parts := make([]string, len(foreign))
	for i, f := range foreign {
		parts[i] = fmt.Sprintf("%s answers for cluster %s", f.Endpoint, FormatID(f.ClusterID))
	}
	return fault.Mark(fmt.Errorf("%w: the member list came from cluster %s (via %s), but %s; give the endpoints of one cluster",
		ErrMixedClusters, FormatID(ms.ClusterID), ms.AnsweredBy, strings.Join(parts, ", ")), fault.Refused)
}

func (c *Cluster) membership(answeredBy string, resp *clientv3.MemberListResponse) *Membership {
	ms := &Membership{ClusterID: resp.Header.GetClusterId(), AnsweredBy: answeredBy}
	answeringID := resp.Header.GetMemberId()
	for _, pm := range resp.Members {
		m := Member{
			ID:         pm.GetID(),
			Name:       pm.GetName(),
			ClientURLs: append([]string(nil), pm.GetClientURLs()...),
			PeerURLs:   append([]string(nil), pm.GetPeerURLs()...),
			IsLearner:  pm.GetIsLearner(),
		}
		m.Endpoint = c.endpointFor(m, answeredBy, answeringID)
		m.MetricsURL = c.metricsURLFor(m)
		ms.Members = append(ms.Members, m)
	}
	sort.Slice(ms.Members, func(i, j int) bool {
		if ms.Members[i].Name != ms.Members[j].Name {
			return ms.Members[i].Name < ms.Members[j].Name
		}
		return ms.Members[i].ID < ms.Members[j].ID
	})
	return ms
}

// endpointFor prefers an endpoint the user configured: it is known to be
// reachable from here (a loopback URL on a kubeadm node, say), whereas
// advertised URLs may only route inside the cluster network.
func (c *Cluster) endpointFor(m Member, answeredBy string, answeringID uint64) string {
	if m.ID == answeringID {
		return answeredBy
	}
	for _, ep := range c.Config.Endpoints {
		if slices.Contains(m.ClientURLs, ep) {
			return ep
		}
	}
	if len(m.ClientURLs) > 0 {
		return m.ClientURLs[0]
	}
	return ""
}

func (c *Cluster) metricsURLFor(m Member) string {
	if l := c.Config.Local; l != nil && l.MetricsURL != "" {
		if (l.Name != "" && l.Name == m.Name) || overlaps(l.ClientURLs, m.ClientURLs) {
			return l.MetricsURL
		}
	}
	if m.Endpoint == "" {
		return ""
	}
	return strings.TrimSuffix(m.Endpoint, "/") + "/metrics"
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// joinSame keeps error output to one line when every endpoint failed the same way.
func joinSame(errs []error) error {
	if len(errs) == 0 {
		return errors.New("no endpoints configured")
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return &multiError{errs: errs}
}

type multiError struct{ errs []error }

func (m *multiError) Error() string {
	parts := make([]string, len(m.errs))
	for i, e := range m.errs {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

func (m *multiError) Unwrap() []error { return m.errs }
