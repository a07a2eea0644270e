package member_test

import (
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// Member arguments complete from the cluster's own list, reached with the
// flags typed so far: every member for remove, learners only for promote
// (one added and never started is offered by ID), voters for move-leader
// --to; an unreachable endpoint completes nothing, within --dial-timeout.
func TestMemberArgumentsComplete(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	eps := endpoints(c)
	complete := func(args ...string) []string {
		t.Helper()
		res := clitest.Run(t, nil, append([]string{"__complete"}, args...)...)
		if res.Code != 0 {
			t.Fatalf("__complete %v: exit %d", args, res.Code)
		}
		var got []string
		for _, line := range strings.Split(res.Stdout, "\n") {
			if line != "" && !strings.HasPrefix(line, ":") {
				got = append(got, line)
			}
		}
		return got
	}
	ids := map[string]string{}
	for _, r := range list(t, eps).Members {
		ids[r.Name] = r.ID
	}
	want := []string{"m1\tvoter " + ids["m1"], "m2\tvoter " + ids["m2"], "m3\tvoter " + ids["m3"]}
	for _, args := range [][]string{{"member", "remove", "--endpoints", eps, ""}, {"member", "move-leader", "--endpoints", eps, "--to", ""}} {
		if got := complete(args...); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("%v completes %q, want %q", args, got, want)
		}
	}
	if got := complete("member", "promote", "--endpoints", eps, ""); len(got) != 0 {
		t.Fatalf("promote with no learner completes %q", got)
	}
	if res := clitest.Run(t, nil, "member", "add", "n4", "--peer-urls", "http://127.0.0.1:1", "--endpoints", eps, "--yes"); res.Code != 0 {
		t.Fatalf("member add: exit %d", res.Code)
	}
	got := complete("member", "promote", "--endpoints", eps, "")
	if len(got) != 1 || !strings.HasSuffix(got[0], "\tlearner, never started "+strings.SplitN(got[0], "\t", 2)[0]) {
		t.Fatalf("promote completes %q, want the unstarted learner by its ID", got)
	}
	res := clitest.Run(t, nil, "__complete", "member", "remove", "--endpoints", "127.0.0.1:1", "--dial-timeout", "1s", "")
	if res.Code != 0 || strings.Contains(res.Stdout, "\t") || res.Took > 3*time.Second {
		t.Fatalf("unreachable: exit %d in %s, completions %q", res.Code, res.Took, res.Stdout)
	}
}
