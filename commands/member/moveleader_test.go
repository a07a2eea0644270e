package member_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	membercmd "github.com/etcdmedic/etcdmedic/commands/member"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// By default leadership goes to a caught-up voter; --to names one. Every
// member names the new leader afterwards.
func TestMoveLeader(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	before := list(t, endpoints(c))
	res := clitest.Run(t, nil, "member", "move-leader", "-o", "json", "--endpoints", endpoints(c))
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Stderr)
	}
	var r membercmd.MoveLeaderResult
	if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
		t.Fatal(err)
	}
	if !r.Moved || r.From != before.Leader || r.To == before.Leader {
		t.Fatalf("result %+v, leader before %s", r, before.Leader)
	}
	after := list(t, endpoints(c))
	if after.Leader != r.To {
		t.Fatalf("leader after is %s, want %s", after.Leader, r.To)
	}
	// --to by name: the one that leads neither now nor before.
	var target string
	for _, m := range after.Members {
		if m.ID != before.Leader && m.ID != r.To {
			target = m.Name
		}
	}
	res = clitest.Run(t, nil, "member", "move-leader", "--to", target, "--endpoints", endpoints(c))
	if res.Code != 0 || !strings.Contains(res.Stdout, "to "+target) {
		t.Fatalf("--to %s: exit %d\n%s%s", target, res.Code, res.Stdout, res.Stderr)
	}
	if l := list(t, endpoints(c)); row(t, l, target).ID != l.Leader {
		t.Fatalf("leader %s, want %s", l.Leader, target)
	}
	// Already the leader: nothing to do, exit 0.
	res = clitest.Run(t, nil, "member", "move-leader", "--to", target, "--endpoints", endpoints(c))
	if res.Code != 0 || !strings.Contains(res.Stdout, "already leads") {
		t.Fatalf("--to the leader: exit %d\n%s", res.Code, res.Stdout)
	}
	// A hung voter: refused by the gate before anything moves (it could
	// not name the new leader), in one --command-timeout, with the next
	// step; leadership stays where it was.
	hung := playgroundtest.PauseFollower(t, c)
	lead := list(t, endpoints(c)).Leader
	res = clitest.Run(t, nil, "member", "move-leader", "--endpoints", endpoints(c), "--command-timeout", "2s")
	if res.Code != 4 || !strings.Contains(res.Stderr, "voter "+hung.Name+" does not answer") || !strings.Contains(res.Stderr, "→ every finding and the command that fixes it: etcdmedic doctor") {
		t.Fatalf("move-leader with %s hung: exit %d\n%s", hung.Name, res.Code, res.Stderr)
	}
	if res.Took > 3500*time.Millisecond {
		t.Fatalf("the refusal took %s, want at most 3.5s", res.Took)
	}
	if l := list(t, endpoints(c)); l.Leader != lead {
		t.Fatalf("leader %s after a refused move, was %s", l.Leader, lead)
	}
	if err := hung.Resume(); err != nil {
		t.Fatal(err)
	}
	// An unknown member is bad input: one line, exit 64.
	res = clitest.Run(t, nil, "member", "move-leader", "--to", "nosuch", "--endpoints", endpoints(c))
	if res.Code != 64 || !strings.Contains(res.Stderr, `no member "nosuch"`) {
		t.Fatalf("--to nosuch: exit %d\n%s", res.Code, res.Stderr)
	}
}
