package member_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// etcd refuses a member add as "unhealthy cluster" on the member that
// receives it when that member's own peer streams are younger than 5 s. A
// voter of five that just restarted refuses; the other four, each still
// connected to three voters for longer, accept. add asks the voters in
// turn (in the member list's order, m1 first), so it is refused by m1 and
// taken by another voter at once, instead of waiting out m1's 5 s.
func TestAddIsTakenByAnotherVoterWhenOneRefuses(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 5})
	eps := endpoints(c)
	// A cluster just started refuses every add for 5 s: this one waits
	// that out (add retries), and is removed again.
	_, peerURL := newURLs(t, c)
	warm := decodeAdd(t, clitest.Run(t, nil, "member", "add", "warmup", "--peer-urls", peerURL, "--yes", "-o", "json", "--endpoints", eps))
	if res := clitest.Run(t, nil, "member", "remove", warm.ID, "--yes", "--endpoints", eps); res.Code != 0 {
		t.Fatalf("remove the warm-up learner: exit %d\n%s", res.Code, res.Stderr)
	}

	m1 := c.Member(0)
	if err := m1.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := m1.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	cli := playgroundtest.Client(t, c)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Status(ctx, m1.ClientURL)
		cancel()
		if err == nil {
			break
		}
		if time.Since(restarted) > time.Minute {
			t.Fatalf("m1 does not answer after its restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // a restarting member takes a moment
	}
	logged, err := os.Stat(m1.LogPath())
	if err != nil {
		t.Fatal(err)
	}

	_, peerURL = newURLs(t, c)
	res := clitest.Run(t, nil, "member", "add", "m6", "--peer-urls", peerURL, "--yes", "-o", "json", "--endpoints", eps)
	took := time.Since(restarted)
	if added := decodeAdd(t, res); res.Code != 0 || !added.Added {
		t.Fatalf("add: exit %d %+v\n%s", res.Code, added, res.Stderr)
	}
	if took > 4*time.Second {
		t.Skipf("m1 answered and the add ended %s after its restart: its 5 s may have passed, so whether another voter took the add is not shown", took.Round(time.Millisecond))
	}
	data, err := os.ReadFile(m1.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data[logged.Size():]), "rejecting member add request") {
		t.Fatalf("m1 restarted %s before the add ended and did not refuse it: the add was not asked of m1 first\n%s", took, data[logged.Size():])
	}
}
