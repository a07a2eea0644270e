package member_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	membercmd "github.com/etcdmedic/etcdmedic/commands/member"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// add prints the flags the learner starts with; started from exactly those,
// it joins, and promote --wait makes it the fourth voter, listed as one by
// every member and serving linearizable reads.
func TestAddStartPromote(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	eps := endpoints(c)
	clientURL, peerURL := newURLs(t, c)

	// Bad input against the real member list: one line, exit 64, nothing changed.
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"member", "add", c.Member(0).Name, "--peer-urls", peerURL}, "is taken by member"},
		{[]string{"member", "add", "m4", "--peer-urls", c.Member(1).PeerURL}, "is already used by member " + c.Member(1).Name},
		{[]string{"member", "promote", "nosuch"}, `no member "nosuch"`},
	} {
		res := clitest.Run(t, nil, append(bad.args, "--yes", "--endpoints", eps)...)
		if res.Code != 64 || !strings.Contains(res.Stderr, bad.want) || strings.Count(res.Stderr, "Error:") != 1 {
			t.Fatalf("%v: exit %d, want 64 with %q:\n%s", bad.args, res.Code, bad.want, res.Stderr)
		}
	}
	if l := list(t, eps); len(l.Members) != 3 {
		t.Fatalf("bad input changed the membership: %+v", l.Members)
	}

	// A dry run changes nothing and shows the flags it would print.
	dry := clitest.Run(t, nil, "member", "add", "m4", "--peer-urls", peerURL, "--dry-run", "-o", "json", "--endpoints", eps)
	planned := decodeAdd(t, dry)
	if dry.Code != 0 || planned.Added || len(planned.Start.Flags) != 4 {
		t.Fatalf("dry run: exit %d, %+v", dry.Code, planned)
	}
	if l := list(t, eps); len(l.Members) != 3 {
		t.Fatal("the dry run added a member")
	}

	res := clitest.Run(t, nil, "member", "add", "m4", "--peer-urls", peerURL, "--yes", "-o", "json", "--endpoints", eps)
	added := decodeAdd(t, res)
	if res.Code != 0 || !added.Added || !added.IsLearner || added.ID == "" {
		t.Fatalf("add: exit %d, %+v", res.Code, added)
	}
	if added.Start.InitialClusterState != "existing" || added.Start.InitialAdvertisePeerURLs != peerURL ||
		strings.Count(added.Start.InitialCluster, "=") != 4 || !strings.Contains(added.Start.InitialCluster, "m4="+peerURL) {
		t.Fatalf("start flags %+v", added.Start)
	}
	// The plan printed the very flags the add prints (by name, the new
	// member last), whatever order etcd's answer lists the members in.
	if want := "m1=" + c.Member(0).PeerURL + ",m2=" + c.Member(1).PeerURL + ",m3=" + c.Member(2).PeerURL + ",m4=" + peerURL; added.Start.InitialCluster != want || planned.Start.InitialCluster != want {
		t.Fatalf("--initial-cluster planned %q, added %q; want both %q", planned.Start.InitialCluster, added.Start.InitialCluster, want)
	}
	if !strings.Contains(added.Next, "member promote "+added.ID+" --wait") {
		t.Fatalf("next step %q", added.Next)
	}
	l := list(t, eps)
	if r := rowByID(t, l, added.ID); !r.IsLearner || r.Started {
		t.Fatalf("added row %+v: want an unstarted learner", r)
	}
	// Another add while the learner is unstarted: refused by the gate.
	_, peer2 := newURLs(t, c)
	again := clitest.Run(t, nil, "member", "add", "m5", "--peer-urls", peer2, "--yes", "--endpoints", eps)
	if again.Code != 4 || !strings.Contains(again.Stderr, "members.unstarted") {
		t.Fatalf("second add with an unstarted member: exit %d\n%s", again.Code, again.Stderr)
	}

	if _, err := c.StartJoining(clientURL, added.Start.Flags); err != nil {
		t.Fatal(err)
	}
	pr := clitest.Run(t, nil, "member", "promote", "m4", "--wait", "2m", "--yes", "-o", "json", "--endpoints", eps)
	if pr.Code != 0 {
		t.Fatalf("promote: exit %d\n%s", pr.Code, pr.Stderr)
	}
	var p membercmd.PromoteResult
	if err := json.Unmarshal([]byte(pr.Stdout), &p); err != nil {
		t.Fatal(err)
	}
	if !p.Promoted || p.Already || len(p.ListedBy) != 4 {
		t.Fatalf("promote result %+v: want promoted, listed as a voter by 4 members", p)
	}
	l = list(t, eps)
	if voters(l) != 4 || len(l.Members) != 4 {
		t.Fatalf("after promote: %d voters of %d members, want 4 of 4", voters(l), len(l.Members))
	}
	// Its own linearizable read, on its own endpoint only.
	cli := playgroundtest.Client(t, c, clientURL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/after-promote", "x"); err != nil {
		t.Fatal(err)
	}
	if g, err := cli.Get(ctx, "/after-promote"); err != nil || len(g.Kvs) != 1 {
		t.Fatalf("linearizable read on the new voter: %v %v", g, err)
	}
	// Promoting it again only verifies: exit 0.
	if again := clitest.Run(t, nil, "member", "promote", "m4", "--yes", "--endpoints", eps); again.Code != 0 || !strings.Contains(again.Stdout, "voter already") {
		t.Fatalf("promote a voter: exit %d\n%s", again.Code, again.Stdout)
	}
}

func newURLs(t testing.TB, c *playground.Cluster) (string, string) {
	t.Helper()
	cu, pu, err := c.NewMemberURLs()
	if err != nil {
		t.Fatal(err)
	}
	return cu, pu
}

func decodeAdd(t *testing.T, res clitest.Result) membercmd.AddResult {
	t.Helper()
	var r membercmd.AddResult
	if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
		t.Fatalf("add -o json (exit %d): %v\n%s\n%s", res.Code, err, res.Stdout, res.Stderr)
	}
	return r
}

// An add refused for one dead voter (etcd refuses even a learner then)
// names, under the error and before doctor, the replacement that works:
// run exactly as printed (plus --yes and a state file), it removes the dead
// voter, adds NEW, and NEW started from its flags is promoted.
func TestAddWithADeadVoterSuggestsReplacingIt(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	eps := endpoints(c)
	dead := killFollower(t, c)
	clientURL, peerURL := newURLs(t, c)
	res := clitest.Run(t, nil, "member", "add", "m4", "--peer-urls", peerURL, "--yes", "--endpoints", eps)
	lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
	if res.Code != 4 || len(lines) != 3 || !strings.Contains(lines[0], "voter "+dead.Name+" does not answer") || !strings.HasPrefix(lines[2], "→ every finding and the command that fixes it: etcdmedic doctor") {
		t.Fatalf("add with %s dead: exit %d, want 4, the error, the replacement and doctor:\n%s", dead.Name, res.Code, res.Stderr)
	}
	want := "→ if " + dead.Name + " is gone for good, put m4 in its place (" + dead.Name + " is removed first, then m4 added): etcdmedic member replace " + dead.Name + " --name m4 --peer-urls " + peerURL + " --endpoints " + eps
	if lines[1] != want {
		t.Fatalf("suggestion\n%s\nwant\n%s", lines[1], want)
	}
	if l := list(t, eps); len(l.Members) != 3 {
		t.Fatalf("membership after the refused add: %+v", l.Members)
	}

	state := filepath.Join(t.TempDir(), "replace.json")
	args := append(strings.Fields(lines[1][strings.Index(lines[1], ": etcdmedic ")+len(": etcdmedic "):]), "--yes", "--state-file", state, "--wait", "2m")
	if r, _ := runStartingNew(t, c, state, clientURL, args...); r.Code != 0 {
		t.Fatalf("the suggested replacement: exit %d\n%s", r.Code, r.Stderr)
	}
	if l := list(t, eps); len(l.Members) != 3 || voters(l) != 3 || !named(l, "m4") || named(l, dead.Name) {
		t.Fatalf("after the suggested replacement: %+v", l.Members)
	}
}

// Right after a cluster starts, etcd refuses adds for a few seconds
// ("unhealthy cluster": its strict reconfiguration check wants every voter
// connected for 5 s, and the playground is younger than that when Start
// returns). The add says so once, on stderr, instead of waiting in
// silence, and succeeds once etcd lets it.
func TestAddRightAfterTheStartSaysWhyItWaits(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	_, peerURL := newURLs(t, c)
	res := clitest.Run(t, nil, "member", "add", "m4", "--peer-urls", peerURL, "--yes", "--endpoints", endpoints(c))
	note := "member add: etcd refuses the add for now ("
	if res.Code != 0 || strings.Count(res.Stderr, note) != 1 || !strings.Contains(res.Stderr, "wants every voter connected to the others for 5 s; trying again for up to 15s") {
		t.Fatalf("add right after the start: exit %d, want 0 and the refusal named once\n%s", res.Code, res.Stderr)
	}
	if !strings.Contains(res.Stdout, "added m4 (") {
		t.Fatalf("no add reported:\n%s", res.Stdout)
	}
}
