package defrag

import (
	"context"
	"fmt"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/cluster"
)

const metricDefragInflight = "etcd_disk_defrag_inflight"

// gateResult is a fresh look at every voter, and the first condition that
// forbids taking one of them offline now ("" when all hold).
type gateResult struct {
	ms      *cluster.Membership
	snap    *cluster.Snapshot
	leader  *cluster.MemberStatus
	failure string
}

// gate re-reads every voter and checks the conditions under which one voter
// may go offline for a defragmentation without putting the cluster at risk:
// every voter answers and serves a linearizable read, one agreed leader, no
// alarm but NOSPACE, every voter applied close to the leader's commit index,
// and quorum holds even with one voter fewer. Run before every member.
func (r *runner) gate(ctx context.Context) gateResult {
	g := gateResult{}
	ms, err := r.c.Members(ctx)
	if err != nil {
		g.failure = "member list: " + err.Error()
		return g
	}
	g.ms = ms
	g.snap = r.c.Probe(ctx, ms, cluster.ProbeOptions{SkipMetrics: !r.o.RefuseSlowDisk && !r.checkInflight})
	// Every answering voter's linearizable read, in parallel: each is
	// bounded by --command-timeout, and a gate runs before every member.
	reads := make([]error, len(g.snap.Members))
	var wg sync.WaitGroup
	for i, st := range g.snap.Members {
		if st.Member.IsLearner || !st.OK() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			reads[i] = r.linearizableRead(ctx, st.Member)
		}()
	}
	wg.Wait()
	voters, healthy := 0, 0
	var problems []string
	for i, st := range g.snap.Members {
		if st.Member.IsLearner {
			continue
		}
		voters++
		if !st.OK() {
			problems = append(problems, fmt.Sprintf("voter %s does not answer: %v", st.Member.Label(), st.Err))
			continue
		}
		if err := reads[i]; err != nil {
			problems = append(problems, fmt.Sprintf("voter %s serves no linearizable read: %v", st.Member.Label(), err))
			continue
		}
		healthy++
		if st.IsLeader() {
			g.leader = st
		}
	}
	if len(problems) > 0 {
		g.failure = strings.Join(problems, "; ")
		return g
	}
	if lead, agree := g.snap.Leader(); lead == 0 || !agree || g.leader == nil {
		g.failure = "the voters do not agree on one leader"
		return g
	}
	for _, a := range g.snap.Alarms() {
		if a.Type != "NOSPACE" {
			g.failure = fmt.Sprintf("alarm %s raised on member %s: never defragment a cluster that may be corrupt", a.Type, cluster.FormatID(a.MemberID))
			return g
		}
	}
	committed := g.leader.Status.GetRaftIndex()
	for _, st := range g.snap.Members {
		if st.Member.IsLearner {
			continue
		}
		applied := st.Status.GetRaftAppliedIndex()
		if applied+r.o.MaxApplyLag < committed {
			g.failure = fmt.Sprintf("voter %s has applied %d of the leader's %d committed entries (more than %d behind)", st.Member.Label(), applied, committed, r.o.MaxApplyLag)
			return g
		}
	}
	if q := cluster.Quorum(voters); healthy-1 < q {
		g.failure = fmt.Sprintf("quorum margin: %d healthy voters, %d needed with one offline", healthy, q)
		return g
	}
	if r.o.RefuseSlowDisk {
		for _, st := range g.snap.Members {
			if p, ok := st.WALFsyncP99(); ok && p >= r.o.SlowDiskFsyncP99.Seconds() {
				g.failure = fmt.Sprintf("voter %s: WAL fsync p99 %.0fms is already critical (≥ %s)", st.Member.Label(), p*1000, r.o.SlowDiskFsyncP99)
				return g
			}
		}
	}
	if r.checkInflight {
		for _, st := range g.snap.Members {
			if v, ok := st.Metrics.Value(metricDefragInflight); ok && v > 0 {
				g.failure = fmt.Sprintf("member %s is still defragmenting (etcd_disk_defrag_inflight=1)", st.Member.Label())
				return g
			}
		}
	}
	return g
}

func (r *runner) linearizableRead(ctx context.Context, m cluster.Member) error {
	rctx, cancel := r.c.WithCommandTimeout(ctx)
	defer cancel()
	cli, err := r.c.Client(rctx, m.Endpoint)
	if err != nil {
		return err
	}
	_, err = cli.Get(rctx, "health", clientv3.WithCountOnly())
	if err != nil && strings.Contains(err.Error(), "permission denied") {
		return nil // the member answered; our user may not read that key
	}
	return err
}
