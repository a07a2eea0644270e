package health

import (
	"errors"
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
