package health

import (
	"fmt"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// status, doctor and the defrag gate are three readings of one set of
// findings: for each member state below, the status verdict, doctor's
// severity and the gate's decision must follow from the same finding.
// (Rendering real clusters in these states is in commands/status and
// commands/doctor; this pins the judging itself, state by state.)
func TestStatusDoctorAndGateAgree(t *testing.T) {
	const mib = 1 << 20
	type state struct {
		name   string
		mutate func(s *cluster.Sample, reads map[uint64]ReadResult)
		// what each reading must say about member m2 (or m3 when hung)
		member          string
		memberVerdict   string
		clusterSeverity Severity
		doctorCheck     string
		doctorSeverity  Severity
		gateRefuses     bool
		gateSays        string
	}
	states := []state{
		{name: "quota 85%", member: "m2", memberVerdict: VerdictDegraded, clusterSeverity: Warn,
			doctorCheck: "space.quota", doctorSeverity: Warn, gateRefuses: false,
			mutate: func(s *cluster.Sample, _ map[uint64]ReadResult) {
				st := s.Members[1].Status
				st.DbSize, st.DbSizeInUse = 85*(2<<30)/100, 80*(2<<30)/100
			}},
		{name: "fragmentation", member: "m2", memberVerdict: VerdictDegraded, clusterSeverity: Warn,
			doctorCheck: "space.fragmentation", doctorSeverity: Warn, gateRefuses: false,
			mutate: func(s *cluster.Sample, _ map[uint64]ReadResult) {
				st := s.Members[1].Status
				st.DbSize, st.DbSizeInUse = 400*mib, 150*mib
			}},
		{name: "hung member", member: "m3", memberVerdict: VerdictUnreachable, clusterSeverity: Warn,
			doctorCheck: "status.reachable", doctorSeverity: Unknown, gateRefuses: true, gateSays: "voter m3 does not answer",
			mutate: func(s *cluster.Sample, reads map[uint64]ReadResult) {
				err := fmt.Errorf("http://127.0.0.1:3: %w: accepted the connection but did not answer within the deadline", cluster.ErrUnreachable)
				s.Members[2].Status, s.Members[2].Err = nil, err
				reads[3] = ReadResult{Err: err}
			}},
		{name: "apply lag", member: "m2", memberVerdict: VerdictDegraded, clusterSeverity: Warn,
			doctorCheck: "raft.applyGap", doctorSeverity: Warn, gateRefuses: true, gateSays: "apply gap 1500 > 1000",
			mutate: func(s *cluster.Sample, _ map[uint64]ReadResult) {
				s.Members[1].Status.RaftAppliedIndex = s.Members[1].Status.RaftIndex - 1500
			}},
		{name: "follower behind", member: "m2", memberVerdict: VerdictDegraded, clusterSeverity: Warn,
			doctorCheck: "raft.followerLag", doctorSeverity: Warn, gateRefuses: true, gateSays: "behind the leader",
			mutate: func(s *cluster.Sample, _ map[uint64]ReadResult) {
				s.Members[1].Status.RaftIndex -= 2000
				s.Members[1].Status.RaftAppliedIndex -= 2000
			}},
		{name: "NOSPACE alarm", member: "m2", memberVerdict: VerdictCritical, clusterSeverity: Crit,
			doctorCheck: "alarms.nospace", doctorSeverity: Crit, gateRefuses: false, // defragmenting is NOSPACE's cure
			mutate: func(s *cluster.Sample, _ map[uint64]ReadResult) {
				for _, st := range s.Members {
					st.Alarms = []cluster.Alarm{{MemberID: 2, Type: "NOSPACE"}}
				}
			}},
		{name: "CORRUPT alarm", member: "m2", memberVerdict: VerdictCritical, clusterSeverity: Crit,
			doctorCheck: "alarms.corrupt", doctorSeverity: Crit, gateRefuses: true, gateSays: "alarm CORRUPT",
			mutate: func(s *cluster.Sample, _ map[uint64]ReadResult) {
				for _, st := range s.Members {
					st.Alarms = []cluster.Alarm{{MemberID: 2, Type: "CORRUPT"}}
				}
			}},
	}
	th, err := Resolve("", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range states {
		t.Run(tc.name, func(t *testing.T) {
			snap, reads := healthySample()
			tc.mutate(snap, reads)
			id := map[string]string{"m2": cluster.FormatID(2), "m3": cluster.FormatID(3)}[tc.member]

			// status
			sr := Status(snap, SampleOptions{Thresholds: th})
			var mv MemberReport
			for _, m := range sr.Members {
				if m.Name == tc.member {
					mv = m
				}
			}
			if mv.Verdict != tc.memberVerdict || sr.Severity != tc.clusterSeverity {
				t.Fatalf("status: %s is %s, cluster %s (%s); want %s, cluster %s", tc.member, mv.Verdict, sr.Verdict, sr.Severity, tc.memberVerdict, tc.clusterSeverity)
			}

			// doctor: the same checks over two samples (the same one twice)
			d := &judge{ms: snap.Membership, t: th, window: 5 * time.Second}
			d.checkMembers()
			d.firstSample(snap, reads, alarmListResult{})
			d.secondSample(snap, snap)
			var df *Finding
			for i, f := range d.out {
				if f.ID == tc.doctorCheck && f.Member == id {
					df = &d.out[i]
				}
			}
			if df == nil || df.Severity != tc.doctorSeverity {
				t.Fatalf("doctor: %s on %s = %+v; want %s", tc.doctorCheck, tc.member, df, tc.doctorSeverity)
			}
			if worst := Worst(d.out); worst != tc.clusterSeverity && !(worst == Warn && tc.clusterSeverity == Warn) {
				t.Fatalf("doctor's overall severity %s, status's %s", worst, tc.clusterSeverity)
			}
			// status names the member's problem in the finding's own words
			if df.Severity != Unknown && !contains(mv.Reasons, df.Reason()) {
				t.Fatalf("status reasons %q lack doctor's %q", mv.Reasons, df.Reason())
			}

			// the defrag gate
			refusal := TakeVoterOffline.Check(snap, Assess(snap, SampleOptions{Thresholds: th, Reads: reads}))
			if (refusal != nil) != tc.gateRefuses {
				t.Fatalf("gate refusal = %v; want refused=%v", refusal, tc.gateRefuses)
			}
			if refusal != nil && !strings.Contains(refusal.String(), tc.gateSays) {
				t.Fatalf("gate says %q; want it to name %q", refusal, tc.gateSays)
			}
		})
	}
}

// A healthy sample, and every gate passes it.
func TestHealthySampleIsHealthyEverywhere(t *testing.T) {
	snap, reads := healthySample()
	th, _ := Resolve("", nil)
	if sr := Status(snap, SampleOptions{Thresholds: th}); sr.Verdict != VerdictHealthy || len(sr.Findings) != 0 {
		t.Fatalf("status of a healthy sample: %s %+v", sr.Verdict, sr.Findings)
	}
	if r := TakeVoterOffline.Check(snap, Assess(snap, SampleOptions{Thresholds: th, Reads: reads})); r != nil {
		t.Fatalf("gate refuses a healthy sample: %s", r)
	}
	// One voter alone can never be taken offline: no margin.
	one := &cluster.Sample{Membership: &cluster.Membership{ClusterID: 0xc1, Members: snap.Membership.Members[:1]}, Members: snap.Members[:1]}
	r := TakeVoterOffline.Check(one, Assess(one, SampleOptions{Thresholds: th}))
	if r == nil || !strings.Contains(r.String(), "quorum margin: 1 healthy voters, 1 needed with one offline") {
		t.Fatalf("gate on one voter: %v", r)
	}
}

func healthySample() (*cluster.Sample, map[uint64]ReadResult) {
	ms := &cluster.Membership{ClusterID: 0xc1}
	snap := &cluster.Sample{Membership: ms, At: time.Now()}
	reads := map[uint64]ReadResult{}
	for i, name := range []string{"m1", "m2", "m3"} {
		id := uint64(i + 1)
		m := cluster.Member{ID: id, Name: name, ClientURLs: []string{fmt.Sprintf("http://127.0.0.1:%d", id)}, Endpoint: fmt.Sprintf("http://127.0.0.1:%d", id)}
		ms.Members = append(ms.Members, m)
		snap.Members = append(snap.Members, &cluster.MemberStatus{Member: m, Quota: 2 << 30, QuotaSource: cluster.QuotaFromStatus,
			Status: &pb.StatusResponse{Header: &pb.ResponseHeader{ClusterId: 0xc1, MemberId: id}, Version: "3.6.6", Leader: 1,
				RaftTerm: 2, RaftIndex: 10000, RaftAppliedIndex: 10000, DbSize: 100 << 20, DbSizeInUse: 90 << 20}})
		reads[id] = ReadResult{Took: time.Millisecond}
	}
	return snap, reads
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// A hung voter refuses the gate once in its one line: the read it cannot
// serve and the quorum finding the margin restates are the same cause, and
// stay in the refusal's findings for machines.
func TestRefusalNamesEachCauseOnce(t *testing.T) {
	snap, reads := healthySample()
	err := fmt.Errorf("http://127.0.0.1:3: %w: accepted the connection but did not answer within the deadline", cluster.ErrUnreachable)
	snap.Members[2].Status, snap.Members[2].Err = nil, err
	reads[3] = ReadResult{Err: err}
	th, _ := Resolve("", nil)
	r := TakeVoterOffline.Check(snap, Assess(snap, SampleOptions{Thresholds: th, Reads: reads}))
	if r == nil {
		t.Fatal("the gate holds with a hung voter")
	}
	ids := map[string]bool{}
	for _, f := range r.Findings {
		ids[f.ID] = true
	}
	line := r.String()
	if !ids["reads.linearizable"] || !ids["quorum.margin"] || r.Margin == "" {
		t.Fatalf("refusal %+v: want the read and quorum findings kept, and a margin", r)
	}
	if strings.Count(line, "m3") != 1 || strings.Contains(line, "linearizable") || strings.Contains(line, "quorum.margin") || !strings.Contains(line, r.Margin) {
		t.Fatalf("refusal line %q: want m3 named once, the margin, and no restated cause", line)
	}
}
