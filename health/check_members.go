package health

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// 1. Membership: learners and members added but never started.
func (d *judge) checkMembers() {
	var learners, unstarted []string
	for _, m := range d.ms.Members {
		if m.IsLearner {
			learners = append(learners, m.Label())
		}
		if !m.Started() {
			unstarted = append(unstarted, m.IDString())
		}
	}
	voters := len(d.ms.Voters())
	obs := fmt.Sprintf("%d members: %d voters", len(d.ms.Members), voters)
	if len(learners) > 0 {
		obs += ", learners " + strings.Join(learners, ",")
	}
	f := Finding{ID: "members.list", Severity: OK, Observed: obs, Explanation: "member list read from " + d.ms.AnsweredBy}
	if voters%2 == 0 {
		f.Severity = Warn
		f.Explanation = fmt.Sprintf("an even number of voters tolerates no more failures than %d would, and splits evenly in a partition", voters-1)
		f.Threshold = "odd number of voters"
	}
	d.add(f)
	for _, m := range d.ms.Members {
		if m.IsLearner && m.Started() {
			d.add(d.member(m, Finding{ID: "members.learner", Severity: OK, Observed: "learner, not yet promoted", Short: "learner " + m.Label() + " not promoted",
				Explanation: "a learner receives the log but does not vote; etcd allows one at a time",
				Advice:      "once it has caught up, promote it: " + d.cmd("member promote", cluster.ShellJoin([]string{m.Label()}), "--wait", "10m") + "; or remove it: " + d.cmd("member remove", m.IDString())}))
		}
	}
	if len(unstarted) > 0 {
		var remove []string
		for _, id := range unstarted {
			remove = append(remove, d.cmd("member remove", id))
		}
		d.add(Finding{ID: "members.unstarted", Severity: Warn, Observed: strings.Join(unstarted, ","),
			Explanation: "added to the member list but never started: it counts for quorum without voting",
			Advice:      "start the member with the flags 'etcdmedic member add' printed, or remove it: " + strings.Join(remove, "; ")})
	}
}

// 1b. Every endpoint given belongs to the cluster whose member list is used:
// otherwise which cluster is judged (or changed) depends on which endpoint
// answered first.
func (d *judge) checkOneCluster() {
	foreign := d.ms.Foreign()
	f := Finding{ID: "members.oneCluster", Severity: OK, Observed: "every endpoint that answered belongs to cluster " + cluster.FormatID(d.ms.ClusterID),
		Explanation: "the endpoints given all belong to one cluster"}
	if len(foreign) > 0 {
		var parts []string
		for _, e := range foreign {
			parts = append(parts, e.Endpoint+" is in cluster "+cluster.FormatID(e.ClusterID))
		}
		f.Severity = Crit
		f.Observed = strings.Join(parts, ", ")
		f.Threshold = "every endpoint in cluster " + cluster.FormatID(d.ms.ClusterID) + " (member list from " + d.ms.AnsweredBy + ")"
		f.Short = fmt.Sprintf("endpoints of %d clusters", len(clusterIDs(foreign))+1)
		f.Explanation = "the endpoints given belong to different clusters: what is judged, and what a maintenance command would change, depends on which endpoint answers first"
		f.Advice = "give --endpoints of one cluster only (etcdctl member list on each shows its cluster ID)"
	}
	d.add(f)
}

func clusterIDs(fs []cluster.ForeignEndpoint) map[uint64]bool {
	ids := map[uint64]bool{}
	for _, f := range fs {
		ids[f.ClusterID] = true
	}
	return ids
}

// 2. Status of every member (local to each member, works without quorum).
func (d *judge) checkStatus(snap *cluster.Sample) {
	for _, st := range snap.Members {
		m := st.Member
		if !st.OK() {
			sev := Unknown
			expl, short := "the member did not answer Status; its checks below are unknown", "no answer"
			if errors.Is(st.Err, cluster.ErrAuth) {
				expl, short = "the member refused our credentials; its checks below are unknown", "auth refused"
			}
			advice := "look at the member's host: is the etcd process running, is its disk stalled? (journalctl, crictl logs, dmesg)"
			if stale := m.Started() && !errors.Is(st.Err, cluster.ErrAuth); stale && !snap.QuorumState().Lost {
				// A started member that does not answer is stale: dead, or
				// left behind by a replacement. With quorum kept, removing it
				// is the fix (member remove's own gate still checks the rest).
				advice += "; if it is gone for good (dead, or left behind by a replacement), remove it: " + d.cmd("member remove", m.IDString()) +
					"; or put a new member in its place in one run (removed first, then the new one added as a learner and promoted): " + d.replaceCmd(m)
			}
			d.add(d.member(m, Finding{ID: "status.reachable", Severity: sev, Observed: errString(st.Err), Short: short, Explanation: expl, Advice: advice}))
			continue
		}
		f := Finding{ID: "status.reachable", Severity: OK, Observed: fmt.Sprintf("answered in %s, version %s", ms(st.Took), st.Status.GetVersion()), Explanation: "Status answered"}
		if got := st.Status.GetHeader().GetClusterId(); got != d.ms.ClusterID {
			f.Severity = Crit
			f.Observed = "cluster ID " + cluster.FormatID(got)
			f.Threshold = "cluster ID " + cluster.FormatID(d.ms.ClusterID)
			f.Short = "other cluster " + cluster.FormatID(got)
			f.Explanation = "this endpoint belongs to a different cluster than the member list"
			f.Advice = "check --endpoints: one of them points at another cluster"
		}
		d.add(d.member(m, f))
	}
}

// 3. Quorum and leadership.
func (d *judge) checkQuorum(snap *cluster.Sample) {
	v := snap.QuorumState()
	f := Finding{ID: "quorum.margin", Observed: fmt.Sprintf("%d of %d voters answer", v.Reachable, v.Voters), Threshold: fmt.Sprintf("quorum %d", v.Needed)}
	switch {
	case v.Lost:
		f.Severity = Crit
		f.Short = fmt.Sprintf("quorum lost: %d of %d voters", v.Reachable, v.Voters)
		f.Explanation = "quorum is lost: the cluster accepts no writes and no linearizable reads"
		f.Advice = "bring members back before anything else (start etcd on their hosts); if they cannot come back, the break-glass runbook for lost quorum (choose a survivor, force a new cluster from its data, re-add the others) on a control-plane node: " + d.cmd("breakglass plan")
	case v.Reachable-1 < v.Needed && v.Voters > 1:
		f.Severity = Warn
		f.Short = fmt.Sprintf("%d of %d voters answer: one more failure loses quorum", v.Reachable, v.Voters)
		f.Explanation = "one more member failure loses quorum; no maintenance (defrag, restarts) until every member answers"
		f.Advice = "find out why the silent member(s) do not answer: " + d.cmd("status")
	default:
		f.Severity = OK
		f.Explanation = fmt.Sprintf("the cluster can lose %d more voter(s)", v.Reachable-v.Needed)
	}
	d.add(f)

	leaders, terms := map[uint64][]string{}, map[uint64][]string{}
	for _, st := range snap.Members {
		if st.OK() {
			leaders[st.Status.GetLeader()] = append(leaders[st.Status.GetLeader()], st.Member.Label())
			terms[st.Status.GetRaftTerm()] = append(terms[st.Status.GetRaftTerm()], st.Member.Label())
		}
	}
	lf := Finding{ID: "quorum.leader", Severity: OK}
	switch {
	case v.Reachable == 0:
		lf.Severity, lf.Observed, lf.Explanation = Unknown, "n/a", "no member answered"
	case leaders[0] != nil:
		lf.Severity, lf.Observed, lf.Short = Crit, "no leader on "+strings.Join(leaders[0], ","), "no leader on "+strings.Join(leaders[0], ",")
		lf.Explanation = "a member without a leader serves no requests"
		lf.Advice = "check connectivity between members (peer port 2380) and their disks"
		if v.Lost {
			// No election can be won without a quorum: the cause is the
			// missing voters, not the network between the ones left.
			lf.Explanation = "with quorum lost no leader can be elected: the members that answer serve no requests"
			lf.Advice = "follows from the lost quorum: see quorum.margin above"
		}
	case len(leaders) > 1 || len(terms) > 1:
		lf.Severity = Warn
		lf.Observed = describeSplit(leaders, terms, d.ms)
		lf.Short = "members disagree on the leader"
		lf.Explanation = "members disagree on the leader or term: an election is under way, or a member is partitioned"
		lf.Advice = "run the doctor again in a few seconds; if it persists, check peer connectivity"
	default:
		for id := range leaders {
			name := cluster.FormatID(id)
			if m, ok := d.ms.Get(id); ok {
				name = m.Label()
			}
			lf.Observed = "leader " + name
		}
		lf.Explanation = "every member that answered names the same leader and term"
	}
	d.add(lf)
}

func describeSplit(leaders, terms map[uint64][]string, ms *cluster.Membership) string {
	var parts []string
	for id, who := range leaders {
		name := cluster.FormatID(id)
		if m, ok := ms.Get(id); ok {
			name = m.Label()
		}
		parts = append(parts, fmt.Sprintf("%s says %s", strings.Join(who, ","), name))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ") + fmt.Sprintf(" (%d distinct terms)", len(terms))
}

type alarmListResult struct {
	alarms []*pb.AlarmMember
	err    error
}

// alarmList needs quorum (it is a raft request) and, with auth, root. One
// voter is asked at a time, the one that just answered the member list first
// (a hung member would spend the whole deadline): asking all at once and
// cancelling the slower ones would make etcd count those cancelled raft
// requests as failed proposals, the very metric the doctor reads next.
func (d *diagnosis) alarmList(ctx context.Context) alarmListResult {
	ctx, cancel := d.c.WithCommandTimeout(ctx)
	defer cancel()
	voters := d.ms.Voters()
	answered := func(m cluster.Member) bool {
		return m.Endpoint == d.ms.AnsweredBy || slices.Contains(m.ClientURLs, d.ms.AnsweredBy)
	}
	sort.SliceStable(voters, func(i, j int) bool { return answered(voters[i]) && !answered(voters[j]) })
	lastErr := fmt.Errorf("no started voter to ask")
	for _, m := range voters {
		if !m.Started() {
			continue
		}
		cli, err := d.c.Client(ctx, m.Endpoint)
		if err != nil {
			lastErr = err
			continue
		}
		resp, err := cli.AlarmList(ctx)
		if err == nil {
			return alarmListResult{alarms: resp.Alarms}
		}
		lastErr = fmt.Errorf("%s: %w", m.Label(), err)
		if ctx.Err() != nil {
			break
		}
	}
	return alarmListResult{err: lastErr}
}

// 4. Alarms, from every member's Status (local) and the alarm list (quorum).
func (d *judge) checkAlarms(snap *cluster.Sample, al alarmListResult) {
	seen := map[cluster.Alarm]bool{}
	for _, a := range snap.Alarms() {
		seen[a] = true
	}
	for _, a := range al.alarms {
		if a.Alarm != pb.AlarmType_NONE {
			seen[cluster.Alarm{MemberID: a.MemberID, Type: a.Alarm.String()}] = true
		}
	}
	var list []cluster.Alarm
	for a := range seen {
		list = append(list, a)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].MemberID < list[j].MemberID })
	for _, a := range list {
		f := Finding{ID: "alarms." + strings.ToLower(a.Type), Severity: Crit, Member: cluster.FormatID(a.MemberID), Observed: "alarm " + a.Type + " raised", Short: "alarm " + a.Type}
		if m, ok := d.ms.Get(a.MemberID); ok {
			f.MemberName = m.Name
		}
		switch a.Type {
		case "NOSPACE":
			f.Explanation = "the database reached its quota: the cluster rejects every write (mvcc: database space exceeded) until the alarm is disarmed"
			f.Advice = "1) find what fills it: " + d.cmd("inventory") +
				"  2) compact, defragment every member one at a time and disarm NOSPACE: " + d.cmd("defrag", "--compact", "--rule 'true'", "--disarm-nospace") +
				"  3) if it is still over quota: delete what is not needed, or raise --quota-bytes on every member"
		case "CORRUPT":
			f.Explanation = "a member's data differs from the others (hash mismatch): do not trust reads from it"
			// Not `member replace`: its gates refuse while any alarm but
			// NOSPACE is raised, so it would be a dead end here.
			f.Advice = "take a snapshot from a healthy member: " + d.cmd("snapshot save", "'<dir>'", "--from", "'<healthy member>'") +
				"; then replace the corrupt member: remove it, wipe its data dir, add it back"
		default:
			f.Explanation = "an alarm is raised"
		}
		d.add(f)
	}
	if len(list) == 0 {
		d.add(Finding{ID: "alarms", Severity: OK, Observed: "none", Explanation: "no NOSPACE or CORRUPT alarm in any member's Status"})
	}
	if al.err != nil {
		d.add(Finding{ID: "alarms.list", Severity: Unknown, Observed: al.err.Error(),
			Explanation: "the cluster's alarm list could not be read (it needs quorum, and the root role when auth is on); only the members' own Status was checked"})
	}
}

// ReadResult is one member's read: how long it took, or why it failed.
type ReadResult struct {
	Took time.Duration
	Err  error
}

// ReadEach makes one read per started member (Read), in parallel.
func ReadEach(ctx context.Context, c *cluster.Cluster, ms *cluster.Membership) map[uint64]ReadResult {
	out := map[uint64]ReadResult{}
	type res struct {
		id uint64
		r  ReadResult
	}
	ch := make(chan res, len(ms.Members))
	n := 0
	for _, m := range ms.Members {
		if !m.Started() {
			continue
		}
		n++
		go func() { ch <- res{m.ID, Read(ctx, c, m)} }()
	}
	for i := 0; i < n; i++ {
		r := <-ch
		out[r.id] = r.r
	}
	return out
}

// Read makes one read on exactly this member, bounded by --command-timeout:
// linearizable for a voter (it needs the leader and quorum), serializable for
// a learner (it serves nothing else). "permission denied" counts as an
// answer, as in etcdctl endpoint health: our user may just not read the key.
func Read(ctx context.Context, c *cluster.Cluster, m cluster.Member) ReadResult {
	rctx, cancel := c.WithCommandTimeout(ctx)
	defer cancel()
	cli, err := c.Client(rctx, m.Endpoint)
	if err != nil {
		return ReadResult{Err: err}
	}
	// Only the read is timed: connecting (and, with auth, a bcrypt password
	// check) is not what clients of this member wait for.
	start := time.Now()
	opts := []clientv3.OpOption{clientv3.WithKeysOnly(), clientv3.WithLimit(1)}
	if m.IsLearner {
		opts = append(opts, clientv3.WithSerializable())
	}
	_, err = cli.Get(rctx, "health", opts...)
	if err != nil && strings.Contains(err.Error(), "permission denied") {
		err = nil
	}
	return ReadResult{Took: time.Since(start), Err: err}
}

func (d *judge) checkReads(snap *cluster.Sample, reads map[uint64]ReadResult) {
	lost := snap.QuorumState().Lost
	silentLeader := ""
	if lead, _ := snap.Leader(); lead != 0 {
		for _, st := range snap.Members {
			if st.Member.ID == lead && !st.OK() {
				silentLeader = st.Member.Label()
			}
		}
	}
	for _, m := range d.ms.Members {
		r, ok := reads[m.ID]
		if !ok {
			continue
		}
		kind := "linearizable"
		if m.IsLearner {
			kind = "serializable"
		}
		f := Finding{ID: "reads." + kind, Threshold: "warn > " + ms(d.t.ReadWarn)}
		switch {
		case r.Err != nil:
			f.Severity = Crit
			f.Observed = r.Err.Error()
			f.Short = kind + " read failed"
			f.Explanation = "a " + kind + " read failed: clients on this member see errors"
			switch {
			case errors.Is(r.Err, cluster.ErrUnreachable):
				f.Severity = Unknown
				f.Explanation = "the member could not be reached for a " + kind + " read"
			case strings.Contains(r.Err.Error(), "deadline") && lost && !m.IsLearner:
				f.Severity = Unknown
				f.Explanation = "no answer to a linearizable read within the deadline: it needs quorum, which is lost"
			case strings.Contains(r.Err.Error(), "deadline") && silentLeader != "" && !m.IsLearner:
				// The followers still name a leader that hangs: a read
				// waits for it until their election timeout elects another.
				f.Severity = Unknown
				f.Explanation = "no answer to a linearizable read within the deadline: it waits for the leader, " + silentLeader + ", which does not answer; the others elect a new one once their election timeout passes"
				f.Advice = "run doctor again in a few seconds: " + d.doctorAgain()
			case strings.Contains(r.Err.Error(), "deadline"):
				f.Severity = Unknown
				f.Explanation = "no answer to a " + kind + " read within the deadline"
			}
		case r.Took > d.t.ReadWarn:
			f.Severity, f.Observed = Warn, ms(r.Took)
			f.Short = "read " + ms(r.Took) + " > " + ms(d.t.ReadWarn)
			f.Explanation = "a " + kind + " read was slow: the member or the leader is overloaded, or the disk is slow"
			f.Advice = "look at fsync and commit latency below; " + d.cmd("status")
		default:
			f.Severity, f.Observed = OK, ms(r.Took)
			f.Explanation = "a " + kind + " read answered"
		}
		d.add(d.member(m, f))
	}
}
