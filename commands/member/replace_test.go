package member_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/clitest"
	membercmd "github.com/etcdmedic/etcdmedic/commands/member"
	"github.com/etcdmedic/etcdmedic/member"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func readJournal(t testing.TB, path string) *member.Journal {
	t.Helper()
	j, found, err := member.LoadJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		return nil
	}
	return j
}

// runStartingNew runs a replacement, starting NEW from the flags it
// journals in state as an operator would. It returns the command's result
// and the journal as it was when NEW started.
func runStartingNew(t *testing.T, c *playground.Cluster, state, clientURL string, args ...string) (clitest.Result, *member.Journal) {
	t.Helper()
	done := make(chan clitest.Result, 1)
	go func() { done <- clitest.Run(t, nil, args...) }()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if j := readJournal(t, state); j != nil && j.Start != nil {
			if _, err := c.StartJoining(clientURL, j.Start.Flags); err != nil {
				t.Fatal(err)
			}
			return <-done, j
		}
		if time.Now().After(deadline) {
			t.Fatalf("NEW never added by %s", strings.Join(args, " "))
		}
	}
}

// One replacement, stopped twice: a real SIGTERM between add and promote,
// then a gate refused while a voter is SIGSTOPped. Each time the membership
// is consistent (three voters and at most the learner) and the journal says
// where it stopped; the same command then resumes, never repeating a step,
// and finishes with NEW a voter, OLD gone and every voter's hash equal.
func TestReplaceResumesAfterSIGTERMAndARefusedGate(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	eps := endpoints(c)
	state := filepath.Join(t.TempDir(), "replace.json")
	clientURL, peerURL := newURLs(t, c)
	old := c.Member(2)
	args := []string{"member", "replace", old.Name, "--name", "m4", "--peer-urls", peerURL, "--state-file", state, "--endpoints", eps}

	dry := clitest.Run(t, nil, append(args, "--dry-run", "-o", "json")...)
	var plan membercmd.ReplaceResult
	if err := json.Unmarshal([]byte(dry.Stdout), &plan); err != nil || dry.Code != 0 {
		t.Fatalf("dry run: exit %d, %v\n%s", dry.Code, err, dry.Stdout)
	}
	if plan.Gate == nil || !plan.Gate.Holds || len(plan.Steps) != len(member.Steps) || plan.Steps[0].State != "next" || plan.Steps[1].State != "pending" {
		t.Fatalf("dry run plan %+v", plan)
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the dry run wrote the state file: %v", err)
	}

	// A real process, SIGTERMed once NEW is added (it then waits for NEW).
	cmd := exec.Command(playgroundtest.Binary(t), append(args, "--yes", "--wait", "5m")...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if j := readJournal(t, state); j != nil && j.NewID != "" {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("NEW never added:\n%s", stderr.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("SIGTERMed replace: %v, want exit 2\n%s", err, stderr.String())
	}
	j := readJournal(t, state)
	if !j.IsDone(member.StepAdd) || j.IsDone(member.StepPromote) || j.StoppedAt != member.StepPromote || j.Start == nil {
		t.Fatalf("journal after SIGTERM: %+v", j)
	}
	l := list(t, eps)
	if len(l.Members) != 4 || voters(l) != 3 || !rowByID(t, l, j.NewID).IsLearner {
		t.Fatalf("membership after SIGTERM: %+v", l.Members)
	}

	// A voter stops answering: the promote's gate refuses, exit 4.
	paused := c.Member(1)
	if err := paused.Pause(); err != nil {
		t.Fatal(err)
	}
	refused := clitest.Run(t, nil, append(args, "--yes", "--command-timeout", "2s")...)
	if err := paused.Resume(); err != nil {
		t.Fatal(err)
	}
	if refused.Code != 4 || !strings.Contains(refused.Stderr, paused.Name) {
		t.Fatalf("replace with %s paused: exit %d, want 4 naming it\n%s", paused.Name, refused.Code, refused.Stderr)
	}
	j = readJournal(t, state)
	if j.StoppedAt != member.StepPromote || !strings.Contains(j.Reason, paused.Name) || j.IsDone(member.StepPromote) {
		t.Fatalf("journal after the refusal: %+v", j)
	}
	if l := list(t, eps); len(l.Members) != 4 || voters(l) != 3 {
		t.Fatalf("membership after the refusal: %+v", l.Members)
	}

	if _, err := c.StartJoining(clientURL, j.Start.Flags); err != nil {
		t.Fatal(err)
	}
	done := clitest.Run(t, nil, append(args, "--yes", "-o", "json", "--keep-old-running")...)
	if done.Code != 0 || !strings.Contains(done.Stderr, "add: done before (journal)") || strings.Contains(done.Stderr, "added as learner") {
		t.Fatalf("resumed replace: exit %d\n%s", done.Code, done.Stderr)
	}
	var r membercmd.ReplaceResult
	if err := json.Unmarshal([]byte(done.Stdout), &r); err != nil || !r.Complete {
		t.Fatalf("result %v %+v", err, r)
	}
	if !strings.Contains(done.Stderr, "have the same hash") {
		t.Fatalf("no HashKV verification:\n%s", done.Stderr)
	}
	var rest []string
	for _, m := range c.Members() {
		if m != old {
			rest = append(rest, m.ClientURL)
		}
	}
	l = list(t, strings.Join(rest, ","))
	if len(l.Members) != 3 || voters(l) != 3 || !named(l, "m4") || named(l, old.Name) {
		t.Fatalf("after the replacement: %+v", l.Members)
	}
	// Complete: running it again changes nothing.
	if again := clitest.Run(t, nil, "member", "replace", old.Name, "--name", "m4", "--peer-urls", peerURL, "--state-file", state, "--yes", "--endpoints", strings.Join(rest, ",")); again.Code != 0 {
		t.Fatalf("replace again: exit %d\n%s", again.Code, again.Stderr)
	}
}

// A one-member cluster is replaced too: with two voters, stopping OLD would
// lose quorum, so it is removed running (leadership moves to NEW first).
func TestReplaceTheOnlyMember(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	state := filepath.Join(t.TempDir(), "replace.json")
	clientURL, peerURL := newURLs(t, c)
	res, _ := runStartingNew(t, c, state, clientURL, "member", "replace", "m1", "--name", "n1", "--peer-urls", peerURL, "--state-file", state, "--yes", "--endpoints", endpoints(c))
	if res.Code != 0 || !strings.Contains(res.Stderr, "stopping it would lose quorum") || !strings.Contains(res.Stderr, "leadership moved to n1") {
		t.Fatalf("replace the only member: exit %d\n%s", res.Code, res.Stderr)
	}
	l := list(t, clientURL)
	if len(l.Members) != 1 || !named(l, "n1") || voters(l) != 1 || l.Leader != l.Members[0].ID {
		t.Fatalf("after replacing the only member: %+v", l)
	}
}

// With a voter SIGSTOPped, replacing another is refused at the first gate,
// and within about one --command-timeout: the plan and the run judge the
// cluster once between them, and the one-cluster check waits beside the
// gate, not after it. Nothing is added and the journal says where it stopped.
func TestReplaceRefusedQuicklyWhileAnotherIsHung(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	eps := endpoints(c)
	paused := playgroundtest.PauseFollower(t, c)
	old := otherThan(c, paused)
	_, peerURL := newURLs(t, c)
	state := filepath.Join(t.TempDir(), "replace.json")
	res := clitest.Run(t, nil, "member", "replace", old.Name, "--name", "m4", "--peer-urls", peerURL, "--state-file", state, "--yes", "--endpoints", eps, "--command-timeout", "2s")
	if res.Code != 4 || !strings.Contains(res.Stderr, "voter "+paused.Name+" does not answer") || !strings.Contains(res.Stderr, "→ every finding and the command that fixes it: etcdmedic doctor --endpoints "+eps+" --command-timeout 2s") {
		t.Fatalf("replace with %s paused: exit %d, want 4 naming it and the next step\n%s", paused.Name, res.Code, res.Stderr)
	}
	if res.Took > 3500*time.Millisecond {
		t.Fatalf("the refusal took %s with a paused member, want at most 3.5s", res.Took)
	}
	if j := readJournal(t, state); j != nil && (j.NewID != "" || len(j.Done) != 0) {
		t.Fatalf("journal after a refused first gate: %+v", j)
	}
	if err := paused.Resume(); err != nil {
		t.Fatal(err)
	}
	if l := list(t, eps); len(l.Members) != 3 || named(l, "m4") {
		t.Fatalf("membership after the refusal: %+v", l.Members)
	}
}

// A hung OLD (SIGSTOPped) is replaced as a dead one is, removed first, and
// costs the run one --command-timeout: the plan's gate and the probe that
// finds OLD silent wait for it side by side, --yes acts on that plan, the
// removal on the plan's verdict, and the later steps' member lists do not
// wait for OLD's endpoint again (each of those once cost a timeout: NEW was
// added 8.04 s after the start before). The clock runs until the journal
// holds NEW's start flags, which it gets once OLD is removed and NEW added.
func TestReplaceHungMemberCostsOneTimeout(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	ready := time.Now()
	eps := endpoints(c)
	hung := playgroundtest.PauseFollower(t, c)
	// etcd refuses to remove a voter ("unhealthy cluster") until the
	// members that stay have been connected for its HealthInterval, 5 s:
	// a rule on etcd's clock, so the run starts once that much has passed.
	time.Sleep(time.Until(ready.Add(5 * time.Second)))
	clientURL, peerURL := newURLs(t, c)
	state := filepath.Join(t.TempDir(), "replace.json")
	args := []string{"member", "replace", hung.Name, "--name", "m4", "--peer-urls", peerURL, "--state-file", state, "--endpoints", eps, "--command-timeout", "2s", "--yes", "--wait", "2m"}
	done := make(chan clitest.Result, 1)
	began := time.Now()
	go func() { done <- clitest.Run(t, nil, args...) }()
	var j *member.Journal
	for ; j == nil || j.Start == nil; j = readJournal(t, state) {
		if time.Since(began) > time.Minute {
			t.Fatal("NEW never added")
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(began)
	t.Logf("NEW added %s after the start", took)
	if took > 3500*time.Millisecond || !j.OldDown {
		t.Fatalf("NEW added %s after the start (oldDown %v), want OLD found down and removed within one 2s timeout and 1.5s", took, j.OldDown)
	}
	if _, err := c.StartJoining(clientURL, j.Start.Flags); err != nil {
		t.Fatal(err)
	}
	if res := <-done; res.Code != 0 {
		t.Fatalf("replace the hung %s: exit %d\n%s", hung.Name, res.Code, res.Stderr)
	}
	l := list(t, eps+","+clientURL)
	if len(l.Members) != 3 || voters(l) != 3 || !named(l, "m4") || named(l, hung.Name) {
		t.Fatalf("after replacing the hung %s: %+v", hung.Name, l.Members)
	}
}

// A dead member (SIGKILLed) is replaced too: etcd refuses to add even a
// learner while a voter is down, so OLD is removed first, then NEW is
// added, started from the printed flags and promoted. The plan says so, and
// the cluster ends with three voters, NEW among them, OLD gone, hashes equal.
func TestReplaceDeadMemberRemovesItFirst(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	eps := endpoints(c)
	dead := killFollower(t, c)
	clientURL, peerURL := newURLs(t, c)
	state := filepath.Join(t.TempDir(), "replace.json")
	args := []string{"member", "replace", dead.Name, "--name", "m4", "--peer-urls", peerURL, "--state-file", state, "--endpoints", eps}

	dry := clitest.Run(t, nil, append(args, "--dry-run", "-o", "json")...)
	var plan membercmd.ReplaceResult
	if err := json.Unmarshal([]byte(dry.Stdout), &plan); err != nil || dry.Code != 0 {
		t.Fatalf("dry run: exit %d, %v\n%s%s", dry.Code, err, dry.Stdout, dry.Stderr)
	}
	var order []string
	for _, s := range plan.Steps {
		order = append(order, s.Step)
	}
	if !plan.OldDown || strings.Join(order, ",") != strings.Join(member.StepsOldDown, ",") || plan.Gate == nil || !plan.Gate.Holds {
		t.Fatalf("dry run with %s dead: oldDown %v, steps %v, gate %+v", dead.Name, plan.OldDown, order, plan.Gate)
	}

	res, j := runStartingNew(t, c, state, clientURL, append(args, "--yes", "--wait", "2m")...)
	if !j.IsDone(member.StepRemove) {
		t.Fatalf("m4 added before %s was removed: %+v", dead.Name, j)
	}
	if res.Code != 0 || !strings.Contains(res.Stderr, dead.Name+" does not answer, so it is removed first") || !strings.Contains(res.Stderr, dead.Name+" removed") || !strings.Contains(res.Stderr, "have the same hash") {
		t.Fatalf("replace the dead %s: exit %d\n%s", dead.Name, res.Code, res.Stderr)
	}
	l := list(t, eps+","+clientURL)
	if len(l.Members) != 3 || voters(l) != 3 || !named(l, "m4") || named(l, dead.Name) {
		t.Fatalf("after replacing the dead %s: %+v", dead.Name, l.Members)
	}
}

// A node rebuilt in place comes back with OLD's name and peer URL. While OLD
// answers that is refused (exit 64, nothing changed: etcd cannot list both);
// once OLD is dead it is removed first and NEW joins under the same name,
// on the same peer URL, from an empty data dir.
func TestReplaceDeadMemberByOneWithItsNameAndPeerURL(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	eps := endpoints(c)
	old := playgroundtest.Follower(t, c)
	state := filepath.Join(t.TempDir(), "replace.json")
	args := []string{"member", "replace", old.Name, "--name", old.Name, "--peer-urls", old.PeerURL, "--state-file", state, "--endpoints", eps, "--yes"}

	alive := clitest.Run(t, nil, args...)
	if alive.Code != 64 || !strings.Contains(alive.Stderr, "still answers, and etcd cannot list it and the new member at once") || strings.Count(strings.TrimSpace(alive.Stderr), "\n") > 1 {
		t.Fatalf("replace %s by itself while it answers: exit %d, want 64 and one line\n%s", old.Name, alive.Code, alive.Stderr)
	}
	if l := list(t, eps); len(l.Members) != 3 || voters(l) != 3 {
		t.Fatalf("membership after the refusal: %+v", l.Members)
	}

	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	// The rebuilt node's disk is empty: the old data dir goes aside.
	if err := os.Rename(old.Dir, old.Dir+".dead"); err != nil {
		t.Fatal(err)
	}
	res, _ := runStartingNew(t, c, state, old.ClientURL, append(args, "--wait", "2m")...)
	if res.Code != 0 || !strings.Contains(res.Stderr, "have the same hash") {
		t.Fatalf("replace the dead %s by a new one of its name: exit %d\n%s", old.Name, res.Code, res.Stderr)
	}
	l := list(t, eps)
	if len(l.Members) != 3 || voters(l) != 3 || !named(l, old.Name) {
		t.Fatalf("after the replacement: %+v", l.Members)
	}
	for _, m := range l.Members {
		if m.Name == old.Name && m.ID == cluster.FormatID(old.ID()) {
			t.Fatalf("%s still has its old ID %s", old.Name, m.ID)
		}
	}
}

// The order is decided until the gate passes: a run that found OLD down and
// stopped at the gate (another voter down too) journals that; once both are
// back, the same command takes the usual order again, OLD last.
func TestReplaceOrderDecidedAgainUntilTheGatePasses(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	eps := endpoints(c)
	old := playgroundtest.PauseFollower(t, c)
	other := otherThan(c, old)
	if err := other.Pause(); err != nil {
		t.Fatal(err)
	}
	_, peerURL := newURLs(t, c)
	state := filepath.Join(t.TempDir(), "replace.json")
	args := []string{"member", "replace", old.Name, "--name", "m4", "--peer-urls", peerURL, "--state-file", state, "--endpoints", eps, "--command-timeout", "2s"}
	refused := clitest.Run(t, nil, append(args, "--yes")...)
	j := readJournal(t, state)
	if refused.Code != 4 || j == nil || !j.OldDown || j.StoppedAt != member.StepGate || len(j.Done) != 0 {
		t.Fatalf("replace with %s and %s paused: exit %d, journal %+v\n%s", old.Name, other.Name, refused.Code, j, refused.Stderr)
	}
	for _, m := range []*playground.Member{old, other} {
		if err := m.Resume(); err != nil {
			t.Fatal(err)
		}
	}
	// Quorum was lost: wait out the election the resume starts.
	for deadline := time.Now().Add(30 * time.Second); clitest.Run(t, nil, "status", "--endpoints", eps).Code != 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the cluster is not healthy 30 s after both members resumed")
		}
	}
	dry := clitest.Run(t, nil, append(args, "--dry-run", "-o", "json")...)
	var plan membercmd.ReplaceResult
	if err := json.Unmarshal([]byte(dry.Stdout), &plan); err != nil || dry.Code != 0 {
		t.Fatalf("dry run after both are back: exit %d, %v\n%s%s", dry.Code, err, dry.Stdout, dry.Stderr)
	}
	if plan.OldDown || len(plan.Steps) != len(member.Steps) || plan.Steps[len(plan.Steps)-2].Step != member.StepRemove {
		t.Fatalf("with %s back the plan still removes it first: %+v", old.Name, plan)
	}
}
