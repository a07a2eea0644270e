package member

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// Progress is how far a learner has come, for a progress line.
type Progress struct {
	LearnerApplied  uint64
	LeaderCommitted uint64
	// LearnerDBSize against LeaderDBSize is what the learner has received
	// of the leader's snapshot.
	LearnerDBSize, LeaderDBSize int64
	// ETA from the apply rate so far; 0 when unknown.
	ETA time.Duration
	// Unstarted: the learner has not published its name yet (it is
	// starting, or still receiving the leader's log): nothing it applied
	// can be read.
	Unstarted bool
	// Err: the learner or the leader did not answer this time.
	Err error
}

// Behind is the lag in entries.
func (p Progress) Behind() uint64 {
	if p.LeaderCommitted > p.LearnerApplied {
		return p.LeaderCommitted - p.LearnerApplied
	}
	return 0
}

func (p Progress) String() string {
	if p.Err != nil {
		return p.Err.Error()
	}
	if p.Unstarted {
		return fmt.Sprintf("not started yet (no name in the member list: starting, or still receiving the leader's log); the leader has committed %d entries", p.LeaderCommitted)
	}
	return fmt.Sprintf("applied %d of the leader's %d (%d behind)", p.LearnerApplied, p.LeaderCommitted, p.Behind())
}

// PromoteOptions say how long to wait for the learner.
type PromoteOptions struct {
	// Wait is how long the learner may take to start and come in sync; 0
	// tries once.
	Wait time.Duration
	// Verify bounds the wait, after the promote, for every member to list
	// it as a voter and for it to serve a linearizable read.
	Verify     time.Duration
	Thresholds health.Thresholds
	OnProgress func(Progress)
}

// Promoted is a learner that became a voter, verified.
type Promoted struct {
	Member cluster.Member
	// Already: it was a voter already (a promote that succeeded before).
	Already  bool
	Attempts int
	Waited   time.Duration
	// ListedBy are the members whose own member list shows it as a voter.
	ListedBy []string
}

// Promote promotes the learner ref once it is in sync, retrying etcd's "not
// in sync" refusal until o.Wait has passed, then verifies.
func Promote(ctx context.Context, c *cluster.Cluster, ref string, o PromoteOptions) (*Promoted, error) {
	start := time.Now()
	ms, m, err := ResolveJoining(ctx, c, ref, o.Wait)
	if err != nil {
		return nil, err
	}
	res := &Promoted{Member: m}
	if !m.IsLearner {
		if err := ms.OneCluster(); err != nil {
			return nil, err
		}
		res.Already = true
		return res, verifyVoter(ctx, c, m, o.Verify, res)
	}
	deadline := start.Add(o.Wait)
	res.Member = m
	if g := Judge(ctx, c, ms, health.PromoteLearner, o.Thresholds); g.Refusal != nil {
		return nil, g.Err("promote " + m.Label())
	}
	cli, err := c.VoterClient(ctx, ms)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	rate := newRate()
	retry := newBackoff()
	var shown time.Time
	for {
		res.Attempts++
		pctx, cancel := c.WithCommandTimeout(ctx)
		_, err := cli.MemberPromote(pctx, m.ID)
		cancel()
		if err == nil || alreadyVoter(err) {
			break
		}
		if !notInSync(err) && !retriable(err) {
			return nil, fault.Mark(fmt.Errorf("promote %s: %w", m.Label(), err), fault.Failed)
		}
		// The progress probe asks every member for its status: far dearer
		// than the promote, so it runs once a second for the progress line
		// and for the final message, not on every retry.
		if o.OnProgress != nil && time.Since(shown) >= progressEvery {
			o.OnProgress(learnerProgress(ctx, c, m, rate))
			shown = time.Now()
		}
		if ctx.Err() != nil {
			// How far it had come, asked past the interrupt (within the
			// command timeout): the operator's next decision needs it.
			pctx, cancel := c.WithCommandTimeout(context.WithoutCancel(ctx))
			p := learnerProgress(pctx, c, m, rate)
			cancel()
			return nil, fault.Mark(fmt.Errorf("promote %s: interrupted while it is %s: %w", m.Label(), p, ctx.Err()), fault.Failed)
		}
		if time.Now().After(deadline) {
			why := "not in sync with the leader"
			if !notInSync(err) {
				why = err.Error()
			}
			msg := fmt.Sprintf("promote %s: %s: %s", m.Label(), why, learnerProgress(ctx, c, m, rate))
			if o.Wait > 0 {
				msg += fmt.Sprintf(" after waiting %s", o.Wait)
			} else {
				msg += "; wait for it with --wait"
			}
			return nil, fault.New(fault.Refused, msg)
		}
		retry.sleep(ctx)
	}
	res.Waited = time.Since(start)
	m.IsLearner = false
	res.Member = m
	return res, verifyVoter(ctx, c, m, o.Verify, res)
}

// progressEvery is how often a waiting promote refreshes the progress line.
const progressEvery = time.Second

// backoff paces the retries of promote and of its verification. etcd's
// leader judges "in sync" from its own raft progress of the learner, which
// moves the moment the learner acknowledges (the end of a snapshot, a batch
// of entries), and the new voter serves once it has applied its own publish:
// a retry soon after is what finds it. A refused promote or a failed read
// costs one RPC, so the pace starts at 50 ms and slows to 200 ms (about the
// pace of etcdctl run in a loop) for a learner that takes minutes.
type backoff struct{ next time.Duration }

const (
	backoffFirst = 50 * time.Millisecond
	backoffMax   = 200 * time.Millisecond
)

func newBackoff() *backoff { return &backoff{next: backoffFirst} }

// sleep waits the next pause, or until ctx ends.
func (b *backoff) sleep(ctx context.Context) {
	t := time.NewTimer(b.next)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	b.next = min(2*b.next, backoffMax)
}

// ResolveJoining resolves ref like Resolve, but a name no member has yet
// while an unstarted member exists is waited for (up to wait): a learner
// publishes its name only once it has started, and promote --wait is often
// run right after starting it. It leaves the one-cluster check to the
// caller, after its gate: both wait for a hung member, and then overlap.
func ResolveJoining(ctx context.Context, c *cluster.Cluster, ref string, wait time.Duration) (*cluster.Membership, cluster.Member, error) {
	start := time.Now()
	deadline := start.Add(wait)
	// The first list's one-cluster check explains a failed lookup: it
	// started first, so a hung endpoint's wait overlaps the settling.
	var first *cluster.Membership
	for {
		ms, err := c.Members(ctx)
		if err != nil {
			return nil, cluster.Member{}, err
		}
		if first == nil {
			first = ms
		}
		m, err := Resolve(ms, ref)
		// The list is read serializably from the first member to answer,
		// which may not have applied a member just added yet: an unknown
		// member is looked for again for a moment before it is bad input.
		settled := time.Since(start) > settle && !hasUnstarted(ms)
		if err == nil || settled || (time.Now().After(deadline) && time.Since(start) > settle) || ctx.Err() != nil {
			if err != nil {
				return nil, cluster.Member{}, first.Explain(err)
			}
			return ms, m, nil
		}
		time.Sleep(500 * time.Millisecond) // a member takes seconds to start
	}
}

// settle is how long a member list read from a follower may trail a change.
const settle = 2 * time.Second

func hasUnstarted(ms *cluster.Membership) bool {
	for _, m := range ms.Members {
		if !m.Started() {
			return true
		}
	}
	return false
}

func notInSync(err error) bool { return contains(err, "in sync with leader") }

func contains(err error, s string) bool { return strings.Contains(err.Error(), s) }

// alreadyVoter is etcd's answer to promoting a voter: an earlier attempt
// (whose answer was lost) succeeded.
func alreadyVoter(err error) bool {
	s := err.Error()
	return strings.Contains(s, "can only promote a learner member") && !strings.Contains(s, "in sync")
}

// verifyVoter waits until every started member's own member list shows m as
// a voter and m serves a linearizable read.
func verifyVoter(ctx context.Context, c *cluster.Cluster, m cluster.Member, timeout time.Duration, res *Promoted) error {
	deadline := time.Now().Add(timeout)
	retry := newBackoff()
	var last error
	for {
		ms, err := c.Members(ctx)
		if err == nil {
			res.ListedBy, err = listedAsVoter(ctx, c, ms, m.ID)
		}
		if err == nil {
			self, _ := ms.Get(m.ID)
			self.IsLearner = false
			if self.Name != "" {
				// Resolved by ID before it had published its name.
				res.Member.Name = self.Name
			}
			if r := health.Read(ctx, c, self); r.Err != nil {
				err = fmt.Errorf("%s serves no linearizable read yet: %w", m.Label(), r.Err)
			}
		}
		if err == nil {
			return nil
		}
		last = err
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fault.Mark(fmt.Errorf("promote %s: verify: %w", m.Label(), last), fault.Failed)
		}
		retry.sleep(ctx)
	}
}

// listedAsVoter asks every started member for its own (serializable) member
// list: a member that has not applied the promotion yet would still call it
// a learner.
func listedAsVoter(ctx context.Context, c *cluster.Cluster, ms *cluster.Membership, id uint64) ([]string, error) {
	var by []string
	for _, o := range ms.Members {
		if !o.Started() {
			continue
		}
		lctx, cancel := c.WithCommandTimeout(ctx)
		cli, err := c.Client(lctx, o.Endpoint)
		var resp *clientv3.MemberListResponse
		if err == nil {
			resp, err = cli.MemberList(lctx, clientv3.WithSerializable())
		}
		cancel()
		if err != nil {
			return nil, fmt.Errorf("member list on %s: %w", o.Label(), err)
		}
		found := false
		for _, pm := range resp.Members {
			if pm.GetID() == id {
				found = true
				if pm.GetIsLearner() {
					return nil, fmt.Errorf("%s still lists it as a learner", o.Label())
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("%s does not list it", o.Label())
		}
		by = append(by, o.Label())
	}
	return by, nil
}

// rate estimates the learner's apply rate between samples, for the ETA.
type rate struct {
	at      time.Time
	applied uint64
}

func newRate() *rate { return &rate{} }

func learnerProgress(ctx context.Context, c *cluster.Cluster, m cluster.Member, r *rate) Progress {
	ms, err := c.Members(ctx)
	if err != nil {
		return Progress{Err: err}
	}
	snap := c.Probe(ctx, ms, cluster.ProbeOptions{SkipMetrics: true})
	lead := leaderOf(snap)
	st := statusOf(snap, m.ID)
	switch {
	case lead == nil:
		return Progress{Err: fmt.Errorf("no leader answers")}
	case st != nil && !st.Member.Started():
		// It publishes its name and client URLs only once it has caught
		// up: until then nothing can ask it how far it has come.
		return Progress{Unstarted: true, LeaderCommitted: lead.Status.GetRaftIndex(), LeaderDBSize: lead.Status.GetDbSize()}
	case st == nil || !st.OK():
		err := fmt.Errorf("learner %s does not answer", m.Label())
		if st != nil && st.Err != nil {
			err = fmt.Errorf("learner %s does not answer: %w", m.Label(), st.Err)
		}
		return Progress{Err: err, LeaderCommitted: lead.Status.GetRaftIndex()}
	}
	p := Progress{LearnerApplied: st.Status.GetRaftAppliedIndex(), LeaderCommitted: lead.Status.GetRaftIndex(),
		LearnerDBSize: st.Status.GetDbSize(), LeaderDBSize: lead.Status.GetDbSize()}
	now := time.Now()
	if !r.at.IsZero() && p.LearnerApplied > r.applied {
		perSec := float64(p.LearnerApplied-r.applied) / now.Sub(r.at).Seconds()
		// etcd promotes at 90 % of the leader's log.
		if need := float64(p.LeaderCommitted)*0.9 - float64(p.LearnerApplied); need > 0 && perSec > 0 {
			p.ETA = time.Duration(need / perSec * float64(time.Second))
		}
	}
	r.at, r.applied = now, p.LearnerApplied
	return p
}
