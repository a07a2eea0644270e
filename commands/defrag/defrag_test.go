package defrag_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands"
	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/defrag"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// runCLIEnv makes this test binary act as the etcdmedic binary, so that a
// test can send it real signals.
const runCLIEnv = "ETCDMEDIC_DEFRAG_TEST_RUN_CLI"

func TestMain(m *testing.M) {
	playground.RunMemberIfRequested()
	if os.Getenv(runCLIEnv) == "1" {
		os.Exit(commands.Main())
	}
	os.Exit(m.Run())
}

func endpoints(c *playground.Cluster) string { return strings.Join(c.Endpoints(), ",") }

func events(t *testing.T, stdout string) []defrag.Event {
	t.Helper()
	var out []defrag.Event
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e defrag.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("-o json line is not an event: %v: %s", err, sc.Text())
		}
		out = append(out, e)
	}
	return out
}

func fragmented(t *testing.T, opts playground.Options) *playground.Cluster {
	t.Helper()
	c := playgroundtest.Start(t, opts)
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 600, ConfigMaps: 200, Events: 2000, PodPadding: 500, EventPadding: 800, ConfigMapPadding: 1000})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := playground.Fragment(ctx, playgroundtest.Client(t, c), ""); err != nil {
		t.Fatal(err)
	}
	return c
}

// sizes returns each running member's DB size by name, from its own Status.
func sizes(t *testing.T, c *playground.Cluster) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, m := range c.Members() {
		if !m.Running() || m.Paused() {
			continue
		}
		cli := playgroundtest.Client(t, c, m.ClientURL)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := cli.Status(ctx, m.ClientURL)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		out[m.Name] = st.DbSize
	}
	return out
}

func open(t *testing.T, c *playground.Cluster) *cluster.Cluster {
	t.Helper()
	cc, err := cluster.Open(&cluster.Config{Endpoints: c.Endpoints(), DialTimeout: 2 * time.Second, CommandTimeout: 3 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Close)
	return cc
}

func options(t *testing.T, rule string) defrag.Options {
	t.Helper()
	r, err := defrag.CompileRule(rule)
	if err != nil {
		t.Fatal(err)
	}
	return defrag.Options{Rule: r, MoveLeader: true, Lock: true, LockKey: defrag.DefaultLockKey, LockTTL: 10,
		MemberTimeout: time.Minute, RecoveryTimeout: 30 * time.Second, MaxApplyLag: 1000,
		DisarmNospace: true, DisarmThreshold: 0.8, VerifyHash: true}
}

func TestDefragRollsLeaderLast(t *testing.T) {
	c := fragmented(t, playground.Options{Members: 3})
	before := sizes(t, c)
	leader, err := c.Leader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	metrics := filepath.Join(t.TempDir(), "defrag.prom")
	res := clitest.Run(t, nil, "defrag", "-o", "json", "--endpoints", endpoints(c), "--rule", "fragmentation >= 0.3", "--metrics-file", metrics)
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	ev := events(t, res.Stdout)
	var started []string
	moveAt, lastStartAt := -1, -1
	hashOK := false
	for i, e := range ev {
		switch e.Event {
		case defrag.EventMemberStart:
			started = append(started, e.MemberName)
			lastStartAt = i
		case defrag.EventLeaderMove:
			moveAt = i
		case defrag.EventVerifyHash:
			hashOK = e.OK
		}
	}
	if len(started) != 3 || started[2] != leader.Name {
		t.Fatalf("defragmented %v; want all three with the leader %s last", started, leader.Name)
	}
	if moveAt < 0 || moveAt > lastStartAt {
		t.Fatalf("leadership not moved before the leader's turn (move at %d, last start at %d)", moveAt, lastStartAt)
	}
	if !hashOK {
		t.Fatal("hashes not verified equal")
	}
	after := sizes(t, c)
	for name, b := range before {
		if after[name] >= b {
			t.Fatalf("member %s: %d bytes before, %d after: not smaller", name, b, after[name])
		}
	}
	if l, _ := c.Leader(context.Background()); l == nil || l.Name == leader.Name {
		t.Fatalf("leader is still %s", leader.Name)
	}
	prom, err := os.ReadFile(metrics)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"etcdmedic_defrag_last_success 1", "etcdmedic_defrag_members_defragmented 3", `etcdmedic_defrag_member_duration_seconds{member="`} {
		if !strings.Contains(string(prom), want) {
			t.Fatalf("metrics file lacks %q:\n%s", want, prom)
		}
	}
}

func TestDefragRefusesWhenAMemberIsHung(t *testing.T) {
	c := fragmented(t, playground.Options{Members: 3})
	hung := playgroundtest.PauseFollower(t, c)
	before := sizes(t, c)
	res := clitest.Run(t, nil, "defrag", "-o", "json", "--endpoints", endpoints(c), "--command-timeout", "2s")
	if res.Code != 4 {
		t.Fatalf("exit %d, want 4 (refused by the gate)", res.Code)
	}
	// One --command-timeout for the hung member: the first gate and the
	// voter client's one-cluster check wait for it side by side.
	if res.Took > 3500*time.Millisecond {
		t.Fatalf("the refusal took %s with a hung member, want at most 3.5s", res.Took)
	}
	var gate *defrag.Event
	for _, e := range events(t, res.Stdout) {
		if e.Event == defrag.EventGate && !e.OK {
			gate = &e
		}
		if e.Event == defrag.EventMemberStart {
			t.Fatalf("a member was defragmented: %+v", e)
		}
	}
	if gate == nil || !strings.Contains(gate.Message, "voter "+hung.Name+" does not answer") {
		t.Fatalf("failed gate not named: %+v", gate)
	}
	// For people, the refusal ends with the next step: doctor, reaching
	// the cluster with this run's flags.
	next := "→ every finding and the command that fixes it:\n    etcdmedic doctor --endpoints " + endpoints(c) + " --command-timeout 2s\n"
	res = clitest.Run(t, nil, "defrag", "--endpoints", endpoints(c), "--command-timeout", "2s")
	if res.Code != 4 || !strings.HasSuffix(res.Stdout, next) {
		t.Fatalf("refused run for people: exit %d, stdout:\n%s\nwant it to end with %q", res.Code, res.Stdout, next)
	}
	// Gate flags that move a threshold travel to doctor as --set, so the
	// doctor it points to judges the members as this gate did.
	res = clitest.Run(t, nil, "defrag", "--endpoints", endpoints(c), "--command-timeout", "2s", "--max-apply-lag", "5000", "--slow-disk-fsync-p99", "800ms")
	if res.Code != 4 || !strings.Contains(res.Stdout, "--set followerLag.warn=5000") || !strings.Contains(res.Stdout, "--set fsync.crit=800ms") {
		t.Fatalf("refused run with gate flags: exit %d, stdout:\n%s\nwant the doctor step to carry --set followerLag.warn=5000 --set fsync.crit=800ms", res.Code, res.Stdout)
	}
	// The same gate in a dry run, the pre-flight check a cron wrapper runs:
	// refused (4), the reason on stderr in table mode as in JSON mode.
	for _, format := range []string{"table", "json"} {
		res = clitest.Run(t, nil, "defrag", "--dry-run", "-o", format, "--endpoints", endpoints(c), "--command-timeout", "2s")
		if res.Code != 4 || !strings.HasPrefix(res.Stderr, "Error: a real run would be refused now: ") || !strings.Contains(res.Stderr, hung.Name) {
			t.Fatalf("--dry-run -o %s with a hung member: exit %d, stderr %q; want 4 and the gate's reason", format, res.Code, res.Stderr)
		}
		if format == "table" && !strings.HasSuffix(res.Stdout, next) {
			t.Fatalf("--dry-run refused: stdout:\n%s\nwant it to end with %q", res.Stdout, next)
		}
	}
	after := sizes(t, c)
	for name, b := range before {
		if after[name] != b {
			t.Fatalf("member %s changed size %d → %d", name, b, after[name])
		}
	}
}

func TestDefragStopsWhenAMemberDiesMidRun(t *testing.T) {
	c := fragmented(t, playground.Options{Members: 3})
	o := options(t, "")
	var killed string
	o.OnEvent = func(e defrag.Event) {
		if e.Event == defrag.EventMemberDone && killed == "" {
			for _, m := range c.Members() {
				if m.Name != e.MemberName {
					killed = m.Name
					if err := m.Kill(); err != nil {
						t.Error(err)
					}
					return
				}
			}
		}
	}
	sum := defrag.Run(context.Background(), open(t, c), o)
	if fault.Kind(sum.Fault) != fault.Failed {
		t.Fatalf("ended %v, want failed; stopped by %q", sum.Fault, sum.StoppedBy)
	}
	if sum.Defragmented != 1 || !strings.Contains(sum.StoppedBy, "gate failed") {
		t.Fatalf("defragmented %d, stopped by %q; want 1 and the gate", sum.Defragmented, sum.StoppedBy)
	}
	notStarted := 0
	for _, m := range sum.Members {
		if m.Outcome == "notStarted" {
			notStarted++
		}
	}
	if notStarted != 2 {
		t.Fatalf("members: %+v; want two not started after %s was killed", sum.Members, killed)
	}
}

// A real SIGTERM to a real etcdmedic process while the first member
// defragments: that member is finished, no other is started, the summary is
// printed, exit 2.
func TestDefragSIGTERMFinishesTheRunningMember(t *testing.T) {
	c := fragmented(t, playground.Options{Members: 3})
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "defrag", "-o", "json", "--endpoints", endpoints(c))
	cmd.Env = append(os.Environ(), runCLIEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	var out strings.Builder
	signalled := false
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if !signalled && strings.Contains(sc.Text(), `"event":"memberStart"`) {
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			signalled = true
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	}
	starts, done := 0, 0
	var sum *defrag.Summary
	for _, e := range events(t, out.String()) {
		switch {
		case e.Event == defrag.EventMemberStart:
			starts++
		case e.Event == defrag.EventMemberDone && e.OK:
			done++
		case e.Summary != nil:
			sum = e.Summary
		}
	}
	if !signalled || starts != 1 || done != 1 || sum == nil || sum.Defragmented != 1 || !strings.Contains(sum.StoppedBy, "interrupted") {
		t.Fatalf("signalled %v, %d started, %d done, summary %+v; want the running member finished, no other started, a summary", signalled, starts, done, sum)
	}
}

func TestDefragLock(t *testing.T) {
	c := fragmented(t, playground.Options{Members: 3})
	o := options(t, "")
	second := make(chan clitest.Result, 1)
	o.OnEvent = func(e defrag.Event) {
		if e.Event == defrag.EventMemberStart && len(second) == 0 {
			// While the first run holds the lock, a second run starts.
			second <- clitest.Run(t, nil, "defrag", "--endpoints", endpoints(c))
		}
	}
	sum := defrag.Run(context.Background(), open(t, c), o)
	if sum.Fault != nil {
		t.Fatalf("first run: %v (%s)", sum.Fault, sum.StoppedBy)
	}
	res := <-second
	if res.Code != 4 {
		t.Fatalf("second run: exit %d, want 4 (locked)", res.Code)
	}
	// Another run's lock is no finding of doctor's: no next step to it.
	if strings.Contains(res.Stdout, "etcdmedic doctor") {
		t.Fatalf("a locked run advises doctor:\n%s", res.Stdout)
	}
	host, _ := os.Hostname()
	if !strings.Contains(res.Stdout, "held by "+host+" (pid ") || !strings.Contains(res.Stdout, " since ") {
		t.Fatalf("second run does not name the holder:\n%s", res.Stdout)
	}
	// Released afterwards: a third run goes through.
	if res := clitest.Run(t, nil, "defrag", "--endpoints", endpoints(c), "--rule", "false"); res.Code != 0 {
		t.Fatalf("after the first run: exit %d", res.Code)
	}
}

func TestDefragClearsNospaceButNeverCorrupt(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3, QuotaBytes: 16 << 20})
	playgroundtest.FillUntilNospace(t, c)
	cli := playgroundtest.Client(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Deleting is allowed under NOSPACE; the space comes back only after
	// compaction and defragmentation.
	if _, err := cli.Delete(ctx, "/fill/", clientv3WithPrefix()...); err != nil {
		t.Fatal(err)
	}
	res := clitest.Run(t, nil, "defrag", "-o", "json", "--endpoints", endpoints(c), "--compact", "--compact-keep-revisions", "0", "--rule", "true")
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	disarmed := false
	for _, e := range events(t, res.Stdout) {
		if e.Event == defrag.EventDisarm && e.OK {
			disarmed = true
		}
	}
	alarms, err := cli.AlarmList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !disarmed || len(alarms.Alarms) != 0 {
		t.Fatalf("NOSPACE not cleared: disarm event %v, alarms %v", disarmed, alarms.Alarms)
	}

	// A CORRUPT alarm: the gate refuses, and the alarm stays.
	m := c.Member(0)
	conn := playgroundtest.Client(t, c, m.ClientURL)
	if _, err := pb.NewMaintenanceClient(conn.ActiveConnection()).Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: m.ID(), Alarm: pb.AlarmType_CORRUPT}); err != nil {
		t.Fatal(err)
	}
	res = clitest.Run(t, nil, "defrag", "-o", "json", "--endpoints", endpoints(c))
	if res.Code != 4 || !strings.Contains(res.Stdout, "alarm CORRUPT") {
		t.Fatalf("with CORRUPT: exit %d, want 4 naming the alarm\n%s", res.Code, res.Stdout)
	}
	alarms, err = cli.AlarmList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alarms.Alarms) != 1 || alarms.Alarms[0].Alarm != pb.AlarmType_CORRUPT {
		t.Fatalf("alarms after the run: %v; CORRUPT must stay", alarms.Alarms)
	}
}

func TestDefragSkipsLearners(t *testing.T) {
	c := fragmented(t, playground.Options{Members: 3})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	learner, err := c.AddLearner(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res := clitest.Run(t, nil, "defrag", "-o", "json", "--endpoints", c.Member(0).ClientURL)
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	var sum *defrag.Summary
	for _, e := range events(t, res.Stdout) {
		if e.Event == defrag.EventMemberStart && e.MemberName == learner.Name {
			t.Fatal("the learner was defragmented")
		}
		if e.Summary != nil {
			sum = e.Summary
		}
	}
	reported := false
	for _, m := range sum.Members {
		if m.MemberName == learner.Name && m.Outcome == "skipped" && strings.Contains(m.Reason, "learner") {
			reported = true
		}
	}
	if !reported || sum.Defragmented != 3 {
		t.Fatalf("summary: %+v; want the learner skipped and reported, 3 voters defragmented", sum)
	}
}

func TestDefragBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--rule", "dbSize >"}, "invalid --rule"},
		{[]string{"--rule", "dbSize"}, "invalid --rule"},
		{[]string{"--rule", "dbsize > 1"}, "unknown name dbsize"},
		{[]string{"--rule-preset", "gke"}, "valid presets are mixin, openshift"},
		{[]string{"--rule", "true", "--rule-preset", "mixin"}, "none of the others can be"},
		{[]string{"--disarm-threshold", "2"}, "--disarm-threshold"},
	} {
		res := clitest.Run(t, nil, append([]string{"defrag", "--endpoints", "127.0.0.1:1"}, tc.args...)...)
		if res.Code != 64 || !strings.Contains(res.Stderr, tc.want) {
			t.Fatalf("%v: exit %d, stderr %q; want 64 and %q", tc.args, res.Code, res.Stderr, tc.want)
		}
	}
}
