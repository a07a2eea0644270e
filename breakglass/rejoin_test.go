package breakglass

import (
	"slices"
	"testing"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// The plan on a node whose journal records a force names each lost member's
// add and promote (the newest force's members, by name), and marks them
// from the member list: an added learner has no name there yet, only its
// peer URL; a promoted one is a voter.
func TestPlanRejoinsTheMembersTheForceLeftOut(t *testing.T) {
	root, _ := fixtureRoot(t)
	l, j := mustLayout(t, root)
	command := func(args ...string) string { return cluster.ShellJoin(append([]string{"etcdmedic"}, args...)) }
	old := &ForceNewReport{Manifest: "/etc/kubernetes/manifests/etcd.yaml", ClusterID: "c1", OldMembers: []OldMember{{ID: "9", Name: "gone", PeerURLs: []string{"https://10.0.0.9:2380"}}}}
	old.journalLost(j)
	forced := &ForceNewReport{Manifest: "/etc/kubernetes/manifests/etcd.yaml", ClusterID: "c2", OldMembers: []OldMember{
		{ID: "1", Name: "cp-1", PeerURLs: []string{"https://10.0.0.1:2380"}, Self: true},
		{ID: "3", Name: "cp-3", PeerURLs: []string{"https://10.0.0.3:2380"}},
		{ID: "2", Name: "cp-2", PeerURLs: []string{"https://10.0.0.2:2380"}},
	}}
	forced.journalLost(j)

	r, err := Plan(l, j, command)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"etcdmedic member add cp-2 --peer-urls https://10.0.0.2:2380", "etcdmedic member promote cp-2 --wait 30m",
		"etcdmedic member add cp-3 --peer-urls https://10.0.0.3:2380", "etcdmedic member promote cp-3 --wait 30m",
	}
	if got := rejoinCommands(r); !slices.Equal(got, want) || len(r.Rejoin) != 2 {
		t.Fatalf("rejoin steps %q, want the newest force's members by name %q", got, want)
	}
	if r.Steps[0].State != StateNext || r.Steps[0].Command != want[0] {
		t.Fatalf("first step %+v, want cp-2's add next", r.Steps[0])
	}

	r.MarkRejoined([]cluster.Member{
		{ID: 1, Name: "cp-1", PeerURLs: []string{"https://10.0.0.1:2380"}},
		{ID: 2, PeerURLs: []string{"https://10.0.0.2:2380"}, IsLearner: true},
	})
	if got := rejoinStates(r); !slices.Equal(got, []string{StateDone, StateNext, StatePending, StatePending}) {
		t.Fatalf("with cp-2 added, unstarted: %v", got)
	}
	r.MarkRejoined([]cluster.Member{{ID: 2, Name: "cp-2", PeerURLs: []string{"https://10.0.0.2:2380"}}, {ID: 3, Name: "cp-3", PeerURLs: []string{"https://10.0.0.3:2380"}}})
	if got := rejoinStates(r); !slices.Equal(got, []string{StateDone, StateDone, StateDone, StateDone}) {
		t.Fatalf("with both voters: %v", got)
	}
	if r.Steps[4].State != StateNext {
		t.Fatalf("after the rejoins, step %+v is not next", r.Steps[4])
	}

	// Months later the journal still holds the force, but cp-2 and cp-3
	// were replaced by cp-4 and cp-5: three voters, so the cluster has grown
	// back and no step of that old night is left pending.
	r, err = Plan(l, j, command)
	if err != nil {
		t.Fatal(err)
	}
	r.MarkRejoined([]cluster.Member{
		{ID: 1, Name: "cp-1", PeerURLs: []string{"https://10.0.0.1:2380"}},
		{ID: 4, Name: "cp-4", PeerURLs: []string{"https://10.0.0.4:2380"}},
		{ID: 5, Name: "cp-5", PeerURLs: []string{"https://10.0.0.5:2380"}, IsLearner: true},
	})
	if got := rejoinStates(r); !slices.Equal(got, []string{StateNext, StatePending, StatePending, StatePending}) {
		t.Fatalf("two voters of three, neither lost member's peer URL listed: %v, want cp-2's add still next", got)
	}
	r.MarkRejoined([]cluster.Member{
		{ID: 1, Name: "cp-1", PeerURLs: []string{"https://10.0.0.1:2380"}},
		{ID: 4, Name: "cp-4", PeerURLs: []string{"https://10.0.0.4:2380"}},
		{ID: 5, Name: "cp-5", PeerURLs: []string{"https://10.0.0.5:2380"}},
	})
	if got := rejoinStates(r); !slices.Equal(got, []string{StateDone, StateDone, StateDone, StateDone}) {
		t.Fatalf("three voters again under other names: %v, want every rejoin step done", got)
	}
}

func rejoinCommands(r *PlanReport) (out []string) {
	for _, s := range r.Steps {
		if s.Member != "" {
			out = append(out, s.Command)
		}
	}
	return out
}

func rejoinStates(r *PlanReport) (out []string) {
	for _, s := range r.Steps {
		if s.Member != "" {
			out = append(out, s.State)
		}
	}
	return out
}
