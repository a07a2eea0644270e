package member_test

import (
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// Rows by ID with each member's own answer; a SIGKILLed member stays in the
// list and is marked stale, in JSON and in the table.
func TestListMarksAStaleMember(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	l := list(t, endpoints(c))
	if len(l.Members) != 3 || l.Leader == "" {
		t.Fatalf("listing %+v: want 3 members and a leader", l)
	}
	for i, r := range l.Members {
		if i > 0 && l.Members[i-1].ID >= r.ID {
			t.Fatalf("rows not ordered by ID: %+v", l.Members)
		}
		if !r.Reachable || r.Stale || !r.Started || r.Role != "voter" || r.Lag == nil || r.DBSize <= 0 || len(r.PeerURLs) != 1 {
			t.Fatalf("healthy row %+v", r)
		}
	}
	dead := killFollower(t, c)
	l = list(t, endpoints(c))
	r := row(t, l, dead.Name)
	if !r.Stale || r.Reachable || r.Error == "" || r.Lag != nil {
		t.Fatalf("killed member's row %+v: want stale, unreachable, with the error and no lag", r)
	}
	if row(t, l, otherThan(c, dead).Name).Stale {
		t.Fatal("a live member marked stale")
	}
	table := clitest.Run(t, nil, "member", "list", "--endpoints", endpoints(c), "--command-timeout", "3s")
	if table.Code != 0 || !strings.Contains(table.Stdout, "stale") || !strings.Contains(table.Stdout, dead.Name) {
		t.Fatalf("table (exit %d) does not mark %s stale:\n%s", table.Code, dead.Name, table.Stdout)
	}
	// The next step below the table removes the stale member by ID, with this
	// run's connection flags.
	want := "etcdmedic member remove " + r.ID + " --endpoints " + endpoints(c) + " --command-timeout 3s"
	if got := strings.Join(strings.Fields(strings.ReplaceAll(table.Stdout, " \\\n", " ")), " "); !strings.Contains(got, want) {
		t.Fatalf("table does not advise %q:\n%s", want, table.Stdout)
	}
	yaml := clitest.Run(t, nil, "member", "list", "-o", "yaml", "--endpoints", endpoints(c), "--command-timeout", "3s")
	if yaml.Code != 0 || !strings.Contains(yaml.Stdout, "stale: true") {
		t.Fatalf("-o yaml (exit %d):\n%s", yaml.Code, yaml.Stdout)
	}
}

// With quorum lost (two of three SIGKILLed) no removal can commit: the list
// says so and names the break-glass plan with this run's flags, instead of
// advising a member remove or replace for each stale member; JSON carries
// the quorum as status does.
func TestListWithQuorumLostAdvisesNoMembershipChange(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	for i := 1; i <= 2; i++ {
		if err := c.Member(i).Kill(); err != nil {
			t.Fatal(err)
		}
	}
	l := list(t, endpoints(c))
	if q := l.Quorum; !q.Lost || q.Voters != 3 || q.Reachable != 1 || q.Needed != 2 {
		t.Fatalf("quorum %+v: want 1 of 3 voters, 2 needed, lost", q)
	}
	table := clitest.Run(t, nil, "member", "list", "--endpoints", endpoints(c), "--command-timeout", "2s")
	got := strings.Join(strings.Fields(strings.ReplaceAll(table.Stdout, " \\\n", " ")), " ")
	want := "quorum lost: 1 of 3 voters answer (quorum 2): no membership change can commit"
	plan := "etcdmedic breakglass plan --endpoints " + endpoints(c) + " --command-timeout 2s"
	if table.Code != 0 || !strings.Contains(got, want) || !strings.Contains(got, plan) {
		t.Fatalf("table (exit %d) lacks %q and %q", table.Code, want, plan)
	}
	if strings.Contains(got, "member remove") || strings.Contains(got, "member replace") {
		t.Fatal("with quorum lost the list advises a membership change that cannot commit")
	}
}
