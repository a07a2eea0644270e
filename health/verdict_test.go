package health

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// A member's row never says healthy while the quorum it belongs to is lost:
// for up to an election timeout the last voter standing still names itself
// leader (and a follower it), and etcd serves no write meanwhile.
func TestMemberVerdictWithQuorumLost(t *testing.T) {
	const self, other = 0x1, 0x2
	answering := func(leader uint64) *cluster.MemberStatus {
		return &cluster.MemberStatus{Member: cluster.Member{ID: self, Name: "m1"}, Status: &pb.StatusResponse{Leader: leader}}
	}
	lost := Finding{ID: "quorum.margin", Severity: Crit}
	thin := Finding{ID: "quorum.margin", Severity: Warn}
	for _, c := range []struct {
		name    string
		st      *cluster.MemberStatus
		fs      []Finding
		verdict string
		reason  string
	}{
		{"leader, quorum kept", answering(self), []Finding{thin}, VerdictHealthy, ""},
		{"follower, quorum kept", answering(other), nil, VerdictHealthy, ""},
		{"leader, quorum lost", answering(self), []Finding{lost}, VerdictCritical, "leads without quorum"},
		{"follower, quorum lost", answering(other), []Finding{lost}, VerdictCritical, "quorum lost"},
		{"no leader, quorum lost", answering(0), []Finding{lost}, VerdictCritical, "no leader"},
		{"silent, quorum lost", &cluster.MemberStatus{Member: cluster.Member{ID: self}, Err: errors.New("refused")}, []Finding{lost}, VerdictUnreachable, "no answer"},
	} {
		v := MemberVerdictOf(c.st, c.fs)
		if v.Verdict != c.verdict || (c.reason == "") != (len(v.Reasons) == 0) || c.reason != "" && !strings.HasPrefix(v.Reasons[0], c.reason) {
			t.Errorf("%s: verdict %s, reasons %q; want %s, %q", c.name, v.Verdict, v.Reasons, c.verdict, c.reason)
		}
	}
}

// Two of three voters gone: status's row for the survivor and doctor's
// leader finding both point at the lost quorum, whether the survivor still
// leads alone or has already stepped down.
func TestQuorumLostSurvivorAgrees(t *testing.T) {
	th, err := Resolve("", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		leader uint64
		reason string
	}{{1, "leads without quorum"}, {0, "no leader"}} {
		snap, reads := quorumLostSample()
		snap.Members[0].Status.Leader = c.leader
		sr := Status(snap, SampleOptions{Thresholds: th})
		if m := sr.Members[0]; m.Verdict != VerdictCritical || len(m.Reasons) == 0 || !strings.HasPrefix(m.Reasons[0], c.reason) {
			t.Errorf("leader %d: the survivor's row is %s %q; want critical, %q", c.leader, m.Verdict, m.Reasons, c.reason)
		}
		for _, f := range Assess(snap, SampleOptions{Thresholds: th, Reads: reads}) {
			if f.ID == "quorum.leader" && c.leader == 0 && (f.Severity != Crit || !strings.Contains(f.Advice, "lost quorum")) {
				t.Errorf("no leader with quorum lost: quorum.leader %s, advice %q; want crit, pointing at the lost quorum", f.Severity, f.Advice)
			}
		}
	}
}

// A gate refused with quorum lost says so first, in one line, and names the
// silent voters; no leader, no read and no margin follow from it and stay
// in the findings for machines only.
func TestRefusalWithQuorumLostLeadsWithIt(t *testing.T) {
	th, _ := Resolve("", nil)
	snap, reads := quorumLostSample()
	snap.Members[0].Status.Leader = 0
	reads[1] = ReadResult{Err: fmt.Errorf("context deadline exceeded")}
	r := TakeVoterOffline.Check(snap, Assess(snap, SampleOptions{Thresholds: th, Reads: reads}))
	if r == nil {
		t.Fatal("the gate holds with quorum lost")
	}
	line := r.String()
	want := "quorum lost: 1 of 3 voters answer; voter m2 does not answer: http://127.0.0.1:2: unreachable: connection refused; voter m3 does not answer: http://127.0.0.1:3: unreachable: connection refused"
	if line != want {
		t.Fatalf("refusal line\n%q, want\n%q", line, want)
	}
	ids := map[string]bool{}
	for _, f := range r.Findings {
		ids[f.ID] = true
	}
	if !ids["quorum.leader"] || !ids["reads.linearizable"] {
		t.Fatalf("findings %v: the leader and read findings are dropped", ids)
	}
}

// quorumLostSample is healthySample with m2 and m3 refusing connections.
func quorumLostSample() (*cluster.Sample, map[uint64]ReadResult) {
	snap, reads := healthySample()
	for _, i := range []int{1, 2} {
		err := fmt.Errorf("http://127.0.0.1:%d: %w: connection refused", i+1, cluster.ErrUnreachable)
		snap.Members[i].Status, snap.Members[i].Err = nil, err
		reads[uint64(i+1)] = ReadResult{Err: err}
	}
	return snap, reads
}
