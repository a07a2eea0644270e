package defrag

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// Options for one run.
type Options struct {
	Rule                 *Rule
	DryRun               bool
	MoveLeader           bool
	Compact              bool
	CompactKeepRevisions int64
	Lock                 bool
	LockKey              string
	LockTTL              int // seconds
	MemberTimeout        time.Duration
	RecoveryTimeout      time.Duration
	WaitBetween          time.Duration
	MaxApplyLag          uint64
	DisarmNospace        bool
	DisarmThreshold      float64 // every member's dbSize/quota must be below this to disarm
	VerifyHash           bool
	RefuseSlowDisk       bool
	SlowDiskFsyncP99     time.Duration
	// AllowDowntime lets a cluster with no spare voter (one or two voters)
	// be defragmented, each member's stall stopping the cluster; Confirm
	// is asked first, with the plan.
	AllowDowntime bool
	// ConfirmDowntime is asked once, before the first member, when the run
	// will stop the cluster serving; an error refuses the run.
	ConfirmDowntime func(plan []PlanEntry) error
	// Thresholds judge the gates' findings (health's, default preset when
	// zero); MaxApplyLag and SlowDiskFsyncP99 override theirs.
	Thresholds health.Thresholds
	// OnEvent receives every step as it happens (rendering, tests).
	OnEvent func(Event)
}

type runner struct {
	c             *cluster.Cluster
	o             Options
	kv            *clientv3.Client // balanced over the voters: lock, compaction, alarms
	lock          *Lock            // nil when running without it
	sum           *Summary
	checkInflight bool
}

func (r *runner) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if r.o.OnEvent != nil {
		r.o.OnEvent(e)
	}
}

// stop ends the run with a fault kind (internal/fault) and why.
func (r *runner) stop(kind error, why string) *Summary {
	r.sum.Fault, r.sum.StoppedBy = fault.Mark(errors.New(why), kind), why
	return r.sum
}

// stopOnHealth is stop for a run ended by the cluster's state (a gate, a
// member failing, the cluster unreadable): doctor is what says why.
func (r *runner) stopOnHealth(kind error, why string) *Summary {
	r.sum.StoppedOnHealth = true
	return r.stop(kind, why)
}

// Run plans and, unless DryRun, executes a rolling defragmentation. The
// returned summary carries how it ended (Summary.Fault): nil done or nothing
// to do, fault.Failed a member failed or the run was stopped partway
// (interrupt, a gate failing after a member was done, hash mismatch),
// fault.Indeterminate the cluster could not be read, fault.Refused a gate or
// the lock refused before anything changed (in a dry run: would refuse).
func Run(ctx context.Context, c *cluster.Cluster, o Options) *Summary {
	start := time.Now()
	r := &runner{c: c, o: o, sum: &Summary{Started: start.UTC(), DryRun: o.DryRun, Members: []MemberResult{}}}
	defer func() {
		r.sum.TookSeconds = time.Since(start).Seconds()
		r.emit(Event{Event: EventSummary, OK: r.sum.Fault == nil, Message: r.sum.StoppedBy, Summary: r.sum})
	}()

	ms, err := c.Members(ctx)
	if err != nil {
		return r.stopOnHealth(fault.Indeterminate, err.Error())
	}

	// The plan, from one fresh look; each member's rule is evaluated again
	// just before its turn. This first look scrapes /metrics to learn whether
	// the members export etcd_disk_defrag_inflight (3.5+): later gates then
	// refuse while any member is still defragmenting, even one whose
	// defragmentation another tool or a timed-out client started. It runs
	// before the voter client, whose one-cluster check waits for every
	// endpoint: a hung member's timeout then passes once, not twice.
	r.checkInflight = true
	g := r.gate(ctx)
	r.kv, err = c.VoterClient(ctx, ms)
	if err != nil {
		return r.stopOnHealth(fault.KindOr(err, fault.Indeterminate), err.Error())
	}
	defer r.kv.Close()
	r.checkInflight = g.snap != nil && anyHas(g.snap, metricDefragInflight)
	plan := r.plan(g.snap)
	r.emit(Event{Event: EventPlan, OK: true, Plan: plan, Message: "rule: " + o.Rule.Source})
	if o.DryRun {
		for _, p := range plan {
			r.sum.Members = append(r.sum.Members, MemberResult{Member: p.Member, MemberName: p.MemberName, Outcome: "notStarted", Reason: p.Reason, DBSizeBefore: p.DBSize})
		}
		if g.failure != "" {
			// A dry run is the pre-flight check a cron wrapper runs: a gate
			// that would refuse the real run refuses the dry run too.
			r.emit(Event{Event: EventGate, Message: g.failure})
			return r.stopOnHealth(fault.Refused, "a real run would be refused now: "+g.failure)
		}
		if g.downtime {
			r.emit(Event{Event: EventWarning, Message: downtimeWarning(plan)})
		}
		return r.sum
	}

	if g.failure != "" {
		// Refuse before taking the lock: on a cluster with a CORRUPT alarm
		// or without quorum even the lock's write would fail or hang.
		r.emit(Event{Event: EventGate, Message: g.failure})
		r.notStarted(plan, "gate: "+g.failure)
		return r.stopOnHealth(fault.Refused, "gate failed before the first member: "+g.failure)
	}
	if g.downtime {
		warning := downtimeWarning(plan)
		if o.ConfirmDowntime == nil {
			return r.stop(fault.Refused, warning+": not confirmed")
		}
		if err := o.ConfirmDowntime(plan); err != nil {
			r.notStarted(plan, err.Error())
			return r.stop(fault.KindOr(err, fault.Refused), err.Error())
		}
		r.emit(Event{Event: EventWarning, OK: true, Message: warning + ": confirmed"})
	}
	if o.Lock && !o.DryRun {
		lock, err := AcquireLock(ctx, r.kv, o.LockKey, o.LockTTL, c.Config.CommandTimeout)
		switch {
		case errors.Is(err, ErrLocked):
			r.emit(Event{Event: EventLock, Message: err.Error()})
			return r.stop(fault.Refused, "locked: "+err.Error())
		case err != nil && isNospace(err):
			// etcd refuses every write under NOSPACE, the lock's included;
			// that is exactly when this run is most needed.
			r.emit(Event{Event: EventWarning, Message: "could not take the lock (NOSPACE: etcd refuses writes); running without it"})
		case err != nil:
			return r.stop(fault.Indeterminate, err.Error())
		default:
			defer lock.Release(ctx, c.Config.CommandTimeout)
			r.lock = lock
			r.emit(Event{Event: EventLock, OK: true, Message: "acquired " + o.LockKey})
		}
	}

	if o.Compact {
		if err := r.compact(ctx); err != nil {
			return r.stop(fault.Failed, err.Error())
		}
	}

	done := map[uint64]bool{}
	for i, p := range plan {
		if p.Role == "learner" {
			r.sum.Members = append(r.sum.Members, MemberResult{Member: p.Member, MemberName: p.MemberName, Outcome: "skipped", Reason: p.Reason})
			r.emit(Event{Event: EventSkip, Member: p.Member, MemberName: p.MemberName, OK: true, Message: p.Reason})
			continue
		}
		if ctx.Err() != nil {
			r.notStarted(plan[i:], "interrupted")
			return r.stop(fault.Failed, "interrupted: no further member started")
		}
		g := r.gate(ctx)
		if g.failure != "" {
			r.emit(Event{Event: EventGate, Member: p.Member, MemberName: p.MemberName, Message: g.failure})
			r.notStarted(plan[i:], "gate: "+g.failure)
			if r.sum.Defragmented == 0 {
				return r.stopOnHealth(fault.Refused, "gate failed before "+p.MemberName+": "+g.failure)
			}
			return r.stopOnHealth(fault.Failed, "gate failed before "+p.MemberName+": "+g.failure)
		}
		r.emit(Event{Event: EventGate, Member: p.Member, MemberName: p.MemberName, OK: true, Message: "every voter healthy, caught up, quorum holds with one offline"})
		st := memberIn(g.snap, p.Member)
		if st == nil {
			r.notStarted(plan[i:], "member left the cluster")
			return r.stopOnHealth(fault.Failed, "member "+p.MemberName+" left the cluster during the run")
		}
		vars := VarsOf(st)
		want, err := o.Rule.Eval(vars)
		if err != nil {
			return r.stop(fault.Failed, err.Error())
		}
		if !want {
			reason := "rule false: " + vars.Explain()
			r.sum.Members = append(r.sum.Members, MemberResult{Member: p.Member, MemberName: p.MemberName, Outcome: "skipped", Reason: reason, DBSizeBefore: st.Status.GetDbSize(), DBSizeAfter: st.Status.GetDbSize()})
			r.emit(Event{Event: EventSkip, Member: p.Member, MemberName: p.MemberName, OK: true, Message: reason})
			continue
		}
		if st.IsLeader() && o.MoveLeader && len(g.ms.Voters()) > 1 {
			if err := r.moveLeader(ctx, g, done); err != nil {
				r.notStarted(plan[i:], err.Error())
				return r.stop(fault.Failed, err.Error())
			}
			if g = r.gate(ctx); g.failure != "" {
				r.notStarted(plan[i:], "gate: "+g.failure)
				return r.stopOnHealth(fault.Failed, "gate failed after moving leadership: "+g.failure)
			}
			st = memberIn(g.snap, p.Member)
		}
		// The fence: prove the lock is still this run's right before the
		// member goes offline (a run paused past its lease must not go on
		// while another run may be defragmenting too).
		if err := r.fence(ctx); err != nil {
			r.emit(Event{Event: EventLock, Member: p.Member, MemberName: p.MemberName, Message: err.Error()})
			r.notStarted(plan[i:], "lock lost")
			return r.stop(fault.Refused, err.Error()+": stopped before "+p.MemberName)
		}
		res, err := r.defragment(ctx, st, p.PredictedSeconds)
		r.sum.Members = append(r.sum.Members, res)
		if err != nil {
			r.notStarted(plan[i+1:], "stopped after "+p.MemberName+" failed")
			return r.stopOnHealth(fault.Failed, err.Error())
		}
		done[st.Member.ID] = true
		r.sum.Defragmented++
		if res.DBSizeBefore > res.DBSizeAfter {
			r.sum.ReclaimedBytes += res.DBSizeBefore - res.DBSizeAfter
		}
		if o.WaitBetween > 0 && i < len(plan)-1 {
			select {
			case <-time.After(o.WaitBetween):
			case <-ctx.Done():
			}
		}
	}

	if o.DisarmNospace {
		r.disarmNospace(ctx)
	}
	if o.VerifyHash && r.sum.Defragmented > 0 {
		if err := r.verifyHash(ctx); err != nil {
			return r.stopOnHealth(fault.Failed, err.Error())
		}
	}
	if ctx.Err() != nil {
		return r.stop(fault.Failed, "interrupted")
	}
	return r.sum
}

func (r *runner) notStarted(rest []PlanEntry, why string) {
	for _, p := range rest {
		if p.Role == "learner" {
			continue
		}
		r.sum.Members = append(r.sum.Members, MemberResult{Member: p.Member, MemberName: p.MemberName, Outcome: "notStarted", Reason: why, DBSizeBefore: p.DBSize})
	}
}

// plan orders the members: learners reported and skipped, followers by most
// reclaimable first, the leader last.
func (r *runner) plan(snap *cluster.Sample) []PlanEntry {
	if snap == nil {
		return nil
	}
	var out []PlanEntry
	localName, localGRPC := manifestStopGRPCOnDefrag(r.c.Config)
	for _, st := range snap.Members {
		p := PlanEntry{Member: st.Member.IDString(), MemberName: st.Member.Name, Role: "follower", StopGRPCServiceOnDefrag: GRPCHealthUnknown}
		if localGRPC != "" && localName != "" && localName == st.Member.Name {
			p.StopGRPCServiceOnDefrag = localGRPC
		}
		switch {
		case st.Member.IsLearner:
			p.Role, p.Reason = "learner", "learners are skipped: they serve no clients and do not count for quorum"
		case !st.OK():
			p.Reason = "no status now: " + fmt.Sprint(st.Err)
		default:
			if st.IsLeader() {
				p.Role = "leader"
			}
			vars := VarsOf(st)
			p.DBSize = st.Status.GetDbSize()
			p.ReclaimableBytes = int64(vars.DBSizeFree)
			p.PredictedSeconds = predictStall(int64(vars.DBSizeInUse))
			want, err := r.o.Rule.Eval(vars)
			switch {
			case err != nil:
				p.Reason = err.Error()
			case want:
				p.Defragment, p.Reason = true, "rule true: "+vars.Explain()
			default:
				p.Reason = "rule false: " + vars.Explain()
			}
		}
		out = append(out, p)
	}
	rank := func(p PlanEntry) int {
		switch p.Role {
		case "learner":
			return 2
		case "leader":
			return 1
		}
		return 0
	}
	sort.SliceStable(out, func(i, j int) bool {
		if rank(out[i]) != rank(out[j]) {
			return rank(out[i]) < rank(out[j])
		}
		return out[i].ReclaimableBytes > out[j].ReclaimableBytes
	})
	return out
}

// downtimeWarning says how long the cluster will stop serving.
func downtimeWarning(plan []PlanEntry) string {
	var total float64
	var names []string
	for _, p := range plan {
		if p.Defragment && p.Role != "learner" {
			total += p.PredictedSeconds
			names = append(names, p.MemberName)
		}
	}
	return fmt.Sprintf("downtime: the cluster has no spare voter, so it stops serving while each member defragments (%s; about %.1fs in all, predicted)", strings.Join(names, ", "), total)
}

// fence checks that the run still holds its lock; nil without a lock.
func (r *runner) fence(ctx context.Context) error {
	if r.lock == nil {
		return nil
	}
	return r.lock.Held(ctx, r.kv, r.c.Config.CommandTimeout)
}

// predictStall estimates how long a member blocks. etcd copies only the pages
// in use into a new file, so the estimate follows dbSizeInUse, not the file
// size; etcd's own histogram help says 100 MB usually takes a second, and the
// floor covers the round trips. It is a rough figure: the copy is CPU-bound,
// and the same member copies the same data two to three times faster when its
// heap still holds memory from a recent large allocation (see
// docs/defrag-rules.md#how-long-a-member-stalls).
func predictStall(inUseBytes int64) float64 {
	return 0.5 + float64(inUseBytes)/100e6
}

func memberIn(snap *cluster.Sample, id string) *cluster.MemberStatus {
	for _, st := range snap.Members {
		if st.Member.IDString() == id && st.OK() {
			return st
		}
	}
	return nil
}

func anyHas(snap *cluster.Sample, metric string) bool {
	for _, st := range snap.Members {
		if st.Metrics.Has(metric) {
			return true
		}
	}
	return false
}

func isNospace(err error) bool {
	return err != nil && strings.Contains(err.Error(), "database space exceeded")
}
