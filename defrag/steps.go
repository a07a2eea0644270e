package defrag

import (
	"context"
	"fmt"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/member"
)

// compact compacts once, keeping the newest revisions: under Kubernetes the
// apiserver already compacts, and compacting everything makes every watcher
// relist, so this is opt-in.
func (r *runner) compact(ctx context.Context) error {
	cctx, cancel := r.c.WithCommandTimeout(ctx)
	defer cancel()
	resp, err := r.kv.Get(cctx, "health", clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("compact: read revision: %w", err)
	}
	target := resp.Header.Revision - r.o.CompactKeepRevisions
	if target <= 0 {
		r.emit(Event{Event: EventCompact, OK: true, Message: fmt.Sprintf("nothing to compact: revision %d, keeping %d", resp.Header.Revision, r.o.CompactKeepRevisions)})
		return nil
	}
	// Physical: return only once the compaction is applied to the backend, so
	// the defragmentation that follows can reclaim what it freed.
	kctx, kcancel := context.WithTimeout(ctx, r.o.MemberTimeout)
	defer kcancel()
	if _, err := r.kv.Compact(kctx, target, clientv3.WithCompactPhysical()); err != nil && !strings.Contains(err.Error(), "required revision has been compacted") {
		return fmt.Errorf("compact at %d: %w", target, err)
	}
	r.emit(Event{Event: EventCompact, OK: true, Message: fmt.Sprintf("compacted at revision %d (kept %d)", target, r.o.CompactKeepRevisions)})
	return nil
}

// moveLeader hands leadership to the healthiest caught-up voter, preferring
// one already defragmented, and waits until every voter names it: the one
// implementation is member.MoveLeader.
func (r *runner) moveLeader(ctx context.Context, g gateResult, done map[uint64]bool) error {
	moved, err := member.MoveLeader(ctx, r.c, g.snap, member.MoveOptions{
		MaxLag:       r.o.MaxApplyLag,
		AgreeTimeout: r.o.RecoveryTimeout,
		Prefer: func(st *cluster.MemberStatus) float64 {
			if done[st.Member.ID] {
				return 1000
			}
			return 0
		},
	})
	if err != nil {
		return err
	}
	r.emit(Event{Event: EventLeaderMove, Member: moved.To.IDString(), MemberName: moved.To.Name, OK: true,
		Message: fmt.Sprintf("leadership moved from %s to %s; every voter agrees", moved.From.Label(), moved.To.Label())})
	return nil
}

// defragment defragments one member and waits until it serves again. The
// defrag call is not cancelled by an interrupt: a client-side cancel does not
// stop the server's defragmentation, so the run waits for it to end.
func (r *runner) defragment(ctx context.Context, st *cluster.MemberStatus, predicted float64) (MemberResult, error) {
	m := st.Member
	res := MemberResult{Member: m.IDString(), MemberName: m.Name, DBSizeBefore: st.Status.GetDbSize()}
	r.emit(Event{Event: EventMemberStart, Member: m.IDString(), MemberName: m.Name, OK: true, DBSizeBefore: res.DBSizeBefore, PredictedSeconds: predicted})
	start := time.Now()
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.o.MemberTimeout)
	defer cancel()
	cli, err := r.c.Client(dctx, m.Endpoint)
	if err == nil {
		observed := observeGRPCHealth(dctx, cli)
		_, err = cli.Defragment(dctx, m.Endpoint)
		res.StopGRPCServiceOnDefrag = observed(time.Since(start))
	}
	res.DurationSeconds = time.Since(start).Seconds()
	if err != nil {
		res.Outcome, res.Reason = "failed", err.Error()
		r.emit(Event{Event: EventMemberDone, Member: m.IDString(), MemberName: m.Name, Message: "defragment: " + err.Error(), DurationSeconds: res.DurationSeconds})
		return res, fmt.Errorf("defrag %s: %w", m.Label(), err)
	}
	after, err := r.waitRecovered(context.WithoutCancel(ctx), m)
	if err != nil {
		res.Outcome, res.Reason = "failed", err.Error()
		r.emit(Event{Event: EventMemberDone, Member: m.IDString(), MemberName: m.Name, Message: err.Error(), DurationSeconds: res.DurationSeconds})
		return res, fmt.Errorf("defrag %s: %w", m.Label(), err)
	}
	res.Outcome, res.DBSizeAfter = "defragmented", after.GetDbSize()
	r.emit(Event{Event: EventMemberDone, Member: m.IDString(), MemberName: m.Name, OK: true,
		DBSizeBefore: res.DBSizeBefore, DBSizeAfter: res.DBSizeAfter, DurationSeconds: res.DurationSeconds, PredictedSeconds: predicted,
		StopGRPCServiceOnDefrag: res.StopGRPCServiceOnDefrag})
	return res, nil
}

// waitRecovered polls until the member serves linearizable reads and has
// applied what the leader committed, bounded by the recovery timeout. The
// first polls come quickly, then back off to recoveryPollMax: a member
// usually catches up within a fraction of a second of its defragmentation,
// and a fixed 200 ms wait after the first "not yet" was most of the time the
// run spent between members.
func (r *runner) waitRecovered(ctx context.Context, m cluster.Member) (*pb.StatusResponse, error) {
	deadline := time.Now().Add(r.o.RecoveryTimeout)
	wait := recoveryPollMin
	var last error
	var membership *cluster.Membership // looked up again only when the leader is not in it
	for {
		sctx, cancel := r.c.WithCommandTimeout(ctx)
		st, err := r.c.StatusOf(sctx, m)
		cancel()
		if err == nil {
			err = health.Read(ctx, r.c, m).Err
		}
		if err == nil {
			var lm cluster.Member
			var found bool
			if lm, found, membership = r.leaderMember(ctx, st.GetLeader(), membership); !found {
				err = fmt.Errorf("no leader known to %s", m.Label())
			} else {
				lctx, lcancel := r.c.WithCommandTimeout(ctx)
				var lead *pb.StatusResponse
				lead, err = r.c.StatusOf(lctx, lm)
				lcancel()
				if err == nil && st.GetRaftAppliedIndex()+r.thresholds().FollowerLagWarn >= lead.GetRaftIndex() {
					return st, nil
				}
				if err == nil {
					err = fmt.Errorf("applied %d, leader committed %d", st.GetRaftAppliedIndex(), lead.GetRaftIndex())
				}
			}
		}
		last = err
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("not serving again within %s after defragmentation: %v", r.o.RecoveryTimeout, last)
		}
		time.Sleep(wait)
		wait = min(2*wait, recoveryPollMax)
	}
}

// The recovery poll's first and longest intervals: each poll is two Status
// calls and one linearizable read.
const (
	recoveryPollMin = 25 * time.Millisecond
	recoveryPollMax = 200 * time.Millisecond
)

// leaderMember finds the leader's member entry in known, reading the
// membership again only when known is nil or lacks the leader.
func (r *runner) leaderMember(ctx context.Context, id uint64, known *cluster.Membership) (cluster.Member, bool, *cluster.Membership) {
	if id == 0 {
		return cluster.Member{}, false, known
	}
	if known != nil {
		if lm, ok := known.Get(id); ok {
			return lm, true, known
		}
	}
	ms, err := r.c.Members(ctx)
	if err != nil {
		return cluster.Member{}, false, known
	}
	lm, ok := ms.Get(id)
	return lm, ok, ms
}

// disarmNospace clears NOSPACE alarms, and only those, once every member is
// below quota × threshold; CORRUPT is never touched.
func (r *runner) disarmNospace(ctx context.Context) {
	ms, err := r.c.Members(ctx)
	if err != nil {
		return
	}
	snap := r.c.Probe(ctx, ms, cluster.ProbeOptions{Families: health.MetricFamilies()})
	var nospace []cluster.Alarm
	for _, a := range snap.Alarms() {
		if a.Type == "NOSPACE" {
			nospace = append(nospace, a)
		}
	}
	if len(nospace) == 0 {
		return
	}
	for _, st := range snap.Members {
		if !st.OK() || st.QuotaUsage() >= r.o.DisarmThreshold {
			r.emit(Event{Event: EventDisarm, Message: fmt.Sprintf("NOSPACE left armed: member %s is at %.0f%% of its quota (threshold %.0f%%)", st.Member.Label(), st.QuotaUsage()*100, r.o.DisarmThreshold*100)})
			return
		}
	}
	for _, a := range nospace {
		actx, cancel := r.c.WithCommandTimeout(ctx)
		_, err := r.kv.AlarmDisarm(actx, &clientv3.AlarmMember{MemberID: a.MemberID, Alarm: pb.AlarmType_NOSPACE})
		cancel()
		if err != nil {
			r.emit(Event{Event: EventDisarm, Member: cluster.FormatID(a.MemberID), Message: "disarm NOSPACE: " + err.Error()})
			continue
		}
		r.emit(Event{Event: EventDisarm, Member: cluster.FormatID(a.MemberID), OK: true, Message: "NOSPACE disarmed: every member is below the threshold"})
	}
}

// verifyHash compares every voter's HashKV at one revision after the run.
func (r *runner) verifyHash(ctx context.Context) error {
	ms, err := r.c.Members(ctx)
	if err != nil {
		return fmt.Errorf("verify hash: %w", err)
	}
	hc, err := health.CompareHashes(ctx, r.c, ms.Voters())
	if err != nil {
		return fmt.Errorf("verify hash: %w", err)
	}
	for _, mh := range hc.Hashes {
		if mh.Err != nil {
			r.emit(Event{Event: EventVerifyHash, Member: mh.Member.IDString(), MemberName: mh.Member.Name, Message: "HashKV: " + mh.Err.Error()})
			return fmt.Errorf("verify hash: %s: %w", mh.Member.Label(), mh.Err)
		}
	}
	if mm := hc.Mismatches(); len(mm) > 0 {
		r.emit(Event{Event: EventVerifyHash, Message: "hash mismatch: " + strings.Join(mm, "; ")})
		return fmt.Errorf("verify hash: members differ: %s", strings.Join(mm, "; "))
	}
	r.emit(Event{Event: EventVerifyHash, OK: true, Message: fmt.Sprintf("every voter has the same hash at revision %d", hc.Revision)})
	return nil
}
