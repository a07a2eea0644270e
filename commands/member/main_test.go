package member_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/member"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestMain(m *testing.M) {
	playground.RunMemberIfRequested()
	code := m.Run()
	playgroundtest.RemoveBinary()
	os.Exit(code)
}

func endpoints(c *playground.Cluster) string { return strings.Join(c.Endpoints(), ",") }

// list runs `member list -o json` over the given endpoints and decodes it.
func list(t testing.TB, eps string) *member.Listing {
	t.Helper()
	res := clitest.Run(t, nil, "member", "list", "-o", "json", "--endpoints", eps, "--command-timeout", "3s")
	if res.Code != 0 {
		t.Fatalf("member list: exit %d: %s", res.Code, res.Stderr)
	}
	var l member.Listing
	if err := json.Unmarshal([]byte(res.Stdout), &l); err != nil {
		t.Fatalf("member list -o json: %v\n%s", err, res.Stdout)
	}
	return &l
}

func row(t *testing.T, l *member.Listing, name string) member.Row {
	t.Helper()
	for _, r := range l.Members {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no member %s in %+v", name, l.Members)
	return member.Row{}
}

func voters(l *member.Listing) int {
	n := 0
	for _, r := range l.Members {
		if !r.IsLearner {
			n++
		}
	}
	return n
}

func rowByID(t *testing.T, l *member.Listing, id string) member.Row {
	t.Helper()
	for _, r := range l.Members {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no member %s in %+v", id, l.Members)
	return member.Row{}
}

func named(l *member.Listing, name string) bool {
	for _, r := range l.Members {
		if r.Name == name {
			return true
		}
	}
	return false
}

// killFollower SIGKILLs a member that does not lead: a dead member, with no
// election for the check after it to land in.
func killFollower(t testing.TB, c *playground.Cluster) *playground.Member {
	t.Helper()
	m := playgroundtest.Follower(t, c)
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	return m
}

// otherThan is a member that is none of these (the last one listed).
func otherThan(c *playground.Cluster, not ...*playground.Member) *playground.Member {
	var o *playground.Member
	for _, m := range c.Members() {
		if !slices.Contains(not, m) {
			o = m
		}
	}
	return o
}
