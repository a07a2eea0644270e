package defrag

import (
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/etcdmedic/etcdmedic/cluster"
)

func status(size, inUse, quota int64, leader bool) *cluster.MemberStatus {
	st := &cluster.MemberStatus{Member: cluster.Member{ID: 7}, Status: &pb.StatusResponse{DbSize: size, DbSizeInUse: inUse, Header: &pb.ResponseHeader{MemberId: 7}}, Quota: quota}
	if leader {
		st.Status.Leader = 7
	}
	return st
}

func TestRulesOfEtcdDefragCarryOver(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		rule string
		st   *cluster.MemberStatus
		want bool
	}{
		// etcd-defrag issue #31: this ratio must not be integer division.
		{"dbSizeInUse / dbSize < 0.5", status(100*mib, 40*mib, 2048*mib, false), true},
		{"dbSizeInUse / dbSize < 0.5", status(100*mib, 60*mib, 2048*mib, false), false},
		// etcd-defrag's README rule.
		{"dbQuotaUsage > 0.8 || dbSizeFree > 200*1024*1024", status(1700*mib, 1650*mib, 2048*mib, false), true},
		{"dbQuotaUsage > 0.8 || dbSizeFree > 200*1024*1024", status(500*mib, 400*mib, 2048*mib, false), false},
		{"dbQuotaUsage > 0.8 || dbSize - dbSizeInUse > 200*1024*1024", status(500*mib, 250*mib, 2048*mib, false), true},
		{"!isLeader && fragmentation >= 0.5", status(100*mib, 40*mib, 0, true), false},
		{"!isLeader && fragmentation >= 0.5", status(100*mib, 40*mib, 0, false), true},
		{"dbQuota == 0 && dbQuotaUsage == 0", status(100*mib, 40*mib, 0, false), true},
		{"", status(1, 1, 0, false), true},
	} {
		r, err := CompileRule(tc.rule)
		if err != nil {
			t.Fatalf("%q: %v", tc.rule, err)
		}
		got, err := r.Eval(VarsOf(tc.st))
		if err != nil || got != tc.want {
			t.Errorf("%q on %s: %v, %v; want %v", tc.rule, VarsOf(tc.st).Explain(), got, err, tc.want)
		}
	}
}

func TestPresets(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		preset string
		st     *cluster.MemberStatus
		want   bool
	}{
		{"mixin", status(400*mib, 150*mib, 0, false), true},  // in use < 50 %, > 100 MiB
		{"mixin", status(180*mib, 90*mib, 0, false), false},  // only 90 MiB in use
		{"mixin", status(400*mib, 250*mib, 0, false), false}, // 62 % in use
		{"openshift", status(100*mib, 54*mib, 0, false), true},
		{"openshift", status(100*mib-1, 10*mib, 0, false), false}, // below minDefragBytes
		{"openshift", status(200*mib, 120*mib, 0, false), false},  // 40 % fragmented
	} {
		src, err := RulePreset(tc.preset)
		if err != nil {
			t.Fatal(err)
		}
		r, err := CompileRule(src)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := r.Eval(VarsOf(tc.st)); got != tc.want {
			t.Errorf("%s on %s: %v, want %v", tc.preset, VarsOf(tc.st).Explain(), got, tc.want)
		}
	}
	if _, err := RulePreset("gke"); err == nil || !strings.Contains(err.Error(), "mixin, openshift") {
		t.Fatalf("unknown preset: %v", err)
	}
}

func TestInvalidRulesPointAtTheProblem(t *testing.T) {
	for rule, want := range map[string]string{
		"dbSize >":            "column",
		"dbSize":              "expected bool",
		"dbsize > 1":          "unknown name dbsize",
		"fragmentation > 'a'": "invalid operation",
	} {
		_, err := CompileRule(rule)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "invalid --rule") {
			t.Errorf("%q: %v; want an invalid --rule error containing %q", rule, err, want)
		}
	}
}

func TestStopGRPCServiceOnDefragFromManifest(t *testing.T) {
	for _, tc := range []struct {
		flags map[string]string
		want  string
	}{
		{map[string]string{"feature-gates": "InitialCorruptCheck=true,StopGRPCServiceOnDefrag=true"}, GRPCHealthOn},
		{map[string]string{"feature-gates": "StopGRPCServiceOnDefrag=false"}, GRPCHealthOff},
		{map[string]string{"experimental-stop-grpc-service-on-defrag": "true"}, GRPCHealthOn},
		{map[string]string{"name": "m1"}, GRPCHealthOff},
	} {
		name, got := manifestStopGRPCOnDefrag(&cluster.Config{Local: &cluster.LocalMember{Name: "m1", Flags: tc.flags}})
		if name != "m1" || got != tc.want {
			t.Errorf("%v: %s %s, want m1 %s", tc.flags, name, got, tc.want)
		}
	}
	if _, got := manifestStopGRPCOnDefrag(&cluster.Config{}); got != "" {
		t.Errorf("no manifest: %q, want unknown", got)
	}
}

func TestPlanOrder(t *testing.T) {
	const mib = 1 << 20
	r := &runner{c: &cluster.Cluster{Config: &cluster.Config{}}, o: Options{Rule: mustRule(t, "fragmentation > 0.1")}}
	mk := func(id uint64, name string, size, inUse int64, learner bool) *cluster.MemberStatus {
		st := status(size, inUse, 0, false)
		st.Member = cluster.Member{ID: id, Name: name, IsLearner: learner}
		st.Status.Header.MemberId = id
		st.Status.Leader = 1
		return st
	}
	snap := &cluster.Sample{Members: []*cluster.MemberStatus{
		mk(1, "leader", 500*mib, 100*mib, false),
		mk(2, "small", 100*mib, 80*mib, false),
		mk(3, "learner", 900*mib, 10*mib, true),
		mk(4, "big", 300*mib, 50*mib, false),
	}}
	var got []string
	for _, p := range r.plan(snap) {
		got = append(got, p.MemberName+":"+p.Role)
	}
	want := "big:follower small:follower leader:leader learner:learner"
	if strings.Join(got, " ") != want {
		t.Fatalf("plan %v, want %s (followers most reclaimable first, leader last, learner reported)", got, want)
	}
}

func mustRule(t *testing.T, src string) *Rule {
	t.Helper()
	r, err := CompileRule(src)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
