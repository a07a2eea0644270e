package status_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// A learner is a row, marked as such, and does not count towards quorum.
func TestStatusMarksLearners(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	learner, err := c.AddLearner(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res := clitest.Run(t, nil, "status", "-o", "json", "--endpoints", c.Member(0).ClientURL)
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	r := decode(t, res.Stdout)
	if len(r.Members) != 4 {
		t.Fatalf("%d rows, want 4 (3 voters + 1 learner), found from one endpoint", len(r.Members))
	}
	for _, m := range r.Members {
		if (m.Name == learner.Name) != m.IsLearner {
			t.Fatalf("member %s: isLearner %v", m.Name, m.IsLearner)
		}
	}
	if r.Quorum.Voters != 3 || r.Quorum.Needed != 2 {
		t.Fatalf("quorum %+v: a learner must not count", r.Quorum)
	}
	table := clitest.Run(t, nil, "status", "--endpoints", c.Member(0).ClientURL)
	if !strings.Contains(table.Stdout, "learner") {
		t.Fatalf("table does not mark the learner:\n%s", table.Stdout)
	}
}

// Members are keyed by member ID: a member that advertises two client URLs,
// both given as endpoints, is one member and one row.
func TestStatusOneMemberTwoURLs(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	url := c.Member(0).ClientURL
	alias := strings.Replace(url, "127.0.0.1", "localhost", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Re-advertise the member under both names: restart it with a second advertised client URL.
	m := c.Member(0)
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := m.RestartWith(map[string]any{"advertise-client-urls": url + "," + alias}); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}

	res := clitest.Run(t, nil, "status", "-o", "json", "--endpoints", url+","+alias)
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	r := decode(t, res.Stdout)
	if len(r.Members) != 1 {
		t.Fatalf("%d rows for one member with two client URLs", len(r.Members))
	}
}
