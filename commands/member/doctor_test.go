package member_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// doctor's advice for an unstarted member and for a learner names the exact
// member command, and that command, run as printed, fixes it.
func TestDoctorAdviceNamesTheMemberCommand(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	eps := endpoints(c)
	_, peerURL := newURLs(t, c)
	added := decodeAdd(t, clitest.Run(t, nil, "member", "add", "m4", "--peer-urls", peerURL, "--yes", "-o", "json", "--endpoints", eps))

	remove := adviceCommand(t, eps, "members.unstarted", `etcdmedic member remove [^;]*`)
	if !strings.Contains(remove, added.ID) || !strings.Contains(remove, "--endpoints") {
		t.Fatalf("advice %q does not name the unstarted member %s and the endpoints", remove, added.ID)
	}
	if res := runAdvice(t, remove); res.Code != 0 {
		t.Fatalf("%s: exit %d\n%s", remove, res.Code, res.Stderr)
	}
	if l := list(t, eps); len(l.Members) != 3 {
		t.Fatalf("the unstarted member is still listed: %+v", l.Members)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	learner, err := c.AddLearner(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// While a learner is in the list, no other member is added.
	_, peer2 := newURLs(t, c)
	if res := clitest.Run(t, nil, "member", "add", "m9", "--peer-urls", peer2, "--yes", "--endpoints", eps); res.Code != 4 || !strings.Contains(res.Stderr, "members.learner "+learner.Name) {
		t.Fatalf("add with a learner in the list: exit %d\n%s", res.Code, res.Stderr)
	}
	promote := adviceCommand(t, eps, "members.learner", `etcdmedic member promote [^;]*`)
	if !strings.Contains(promote, " "+learner.Name+" ") {
		t.Fatalf("advice %q does not name the learner %s", promote, learner.Name)
	}
	if res := runAdvice(t, promote); res.Code != 0 {
		t.Fatalf("%s: exit %d\n%s", promote, res.Code, res.Stderr)
	}
	if l := list(t, eps); voters(l) != 4 {
		t.Fatalf("%d voters after the advised promote, want 4", voters(l))
	}
}

// adviceCommand runs doctor and returns the command matching pattern in the
// advice of the finding id.
func adviceCommand(t *testing.T, eps, id, pattern string) string {
	t.Helper()
	for _, f := range doctor(t, eps).Findings {
		if f.ID == id {
			if cmd := regexp.MustCompile(pattern).FindString(f.Advice); cmd != "" {
				return strings.TrimSpace(cmd)
			}
			t.Fatalf("%s advice %q has no %s", id, f.Advice, pattern)
		}
	}
	t.Fatalf("doctor reports no %s", id)
	return ""
}

// runAdvice runs an advised etcdmedic command line as printed: a shell
// splits it (quotes and all) into the words etcdmedic would get, and the
// command runs with them, confirming with --yes.
func runAdvice(t *testing.T, line string) clitest.Result {
	t.Helper()
	return clitest.Run(t, nil, append(shellWords(t, line), "--yes")...)
}

// shellWords are the arguments etcdmedic gets when a shell runs line.
func shellWords(t *testing.T, line string) []string { return clitest.ShellWords(t, line) }

// A SIGKILLed member of three is listed as stale; doctor's advice for it
// names the member remove command with this run's connection flags, and
// that command, run as printed, removes it: doctor then has nothing to say
// about it.
func TestDoctorAdviceRemovesAStaleMember(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	eps := endpoints(c)
	dead := killFollower(t, c)
	r := row(t, list(t, eps), dead.Name)
	if !r.Stale {
		t.Fatalf("killed member's row %+v: not stale", r)
	}
	remove := adviceFor(t, eps, r.ID, "status.reachable", `etcdmedic member remove [^;]*`)
	if !strings.HasPrefix(remove, "etcdmedic member remove "+r.ID+" ") || !strings.HasSuffix(remove, "--endpoints "+eps) {
		t.Fatalf("advice %q does not name the stale member %s and the endpoints %s", remove, r.ID, eps)
	}
	if res := runAdvice(t, remove); res.Code != 0 {
		t.Fatalf("%s: exit %d\n%s", remove, res.Code, res.Stderr)
	}
	l := list(t, eps)
	if len(l.Members) != 2 || named(l, dead.Name) {
		t.Fatalf("after the advised remove: %+v", l.Members)
	}
	for _, f := range doctor(t, eps).Findings {
		if f.Member == r.ID || strings.Contains(f.Advice, r.ID) {
			t.Fatalf("doctor still reports the removed member: %+v", f)
		}
	}
}

// The other fix doctor and member list name for a dead member: put a new one
// in its place. Filled in with the new member's name and peer URL (the
// placeholders are the operator's to choose) and run as printed, it removes
// the dead member, adds the new one and promotes it.
func TestDoctorAdviceReplacesAStaleMember(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	eps := endpoints(c)
	dead := killFollower(t, c)
	r := row(t, list(t, eps), dead.Name)
	replace := adviceFor(t, eps, r.ID, "status.reachable", `etcdmedic member replace [^;]*`)
	table := clitest.Run(t, nil, "member", "list", "--endpoints", eps)
	if !strings.Contains(table.Stdout, "etcdmedic member replace "+dead.Name+" --name '<new-name>' --peer-urls '<new-peer-url>' --endpoints "+eps) {
		t.Fatalf("member list names no replace command for the stale %s:\n%s", dead.Name, table.Stdout)
	}
	if !strings.Contains(replace, "--endpoints "+eps) {
		t.Fatalf("advice %q does not carry the endpoints %s", replace, eps)
	}
	clientURL, peerURL := newURLs(t, c)
	words := shellWords(t, strings.NewReplacer("<new-name>", "m4", "<new-peer-url>", peerURL).Replace(replace))
	if !slices.Contains(words, dead.Name) || words[1] != "replace" {
		t.Fatalf("advice %q does not replace %s", replace, dead.Name)
	}
	state := filepath.Join(t.TempDir(), "replace.json")
	res, _ := runStartingNew(t, c, state, clientURL, append(words, "--state-file", state, "--yes", "--wait", "2m")...)
	if res.Code != 0 {
		t.Fatalf("%s: exit %d\n%s", replace, res.Code, res.Stderr)
	}
	if l := list(t, eps+","+clientURL); len(l.Members) != 3 || voters(l) != 3 || !named(l, "m4") || named(l, dead.Name) {
		t.Fatalf("after the advised replace: %+v", l.Members)
	}
}

// adviceFor is the command matching pattern in the advice of finding id
// about one member.
func adviceFor(t *testing.T, eps, memberID, id, pattern string) string {
	t.Helper()
	for _, f := range doctor(t, eps).Findings {
		if f.ID == id && f.Member == memberID {
			if cmd := regexp.MustCompile(pattern).FindString(f.Advice); cmd != "" {
				return strings.TrimSpace(cmd)
			}
			t.Fatalf("%s advice %q has no %s", id, f.Advice, pattern)
		}
	}
	t.Fatalf("doctor reports no %s for %s", id, memberID)
	return ""
}

func doctor(t *testing.T, eps string) health.Report {
	t.Helper()
	res := clitest.Run(t, nil, "doctor", "-o", "json", "--window", "200ms", "--endpoints", eps)
	var r health.Report
	if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
		t.Fatalf("doctor -o json (exit %d): %v\n%s", res.Code, err, res.Stderr)
	}
	return r
}
