package doctor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestMain(m *testing.M) {
	playground.RunMemberIfRequested()
	os.Exit(m.Run())
}

// This machine's disk is shared and slower than etcd's recommendation (p99
// fsync < 10 ms), and other builds load its two cores, so tests that are not
// about latency judge it (and its symptoms: slow applies, late heartbeats) loosely; TestDoctorJudgesLatencyOverTheWindow and
// health's fixture tests cover the latency checks themselves.
var looseDisk = []string{"--set", "fsync.warn=2s", "--set", "fsync.crit=4s", "--set", "commit.warn=2s", "--set", "commit.crit=4s", "--set", "read.warn=2s",
	"--set", "slowApplies.warn=1000", "--set", "heartbeatFailures.warn=1000"}

func doctor(t *testing.T, c *playground.Cluster, extra ...string) (clitest.Result, health.Report) {
	t.Helper()
	args := append([]string{"doctor", "-o", "json", "--window", "1s", "--endpoints", strings.Join(c.Endpoints(), ",")}, extra...)
	res := clitest.Run(t, nil, args...)
	var r health.Report
	if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
		t.Fatalf("doctor -o json is not JSON: %v\n%s", err, res.Stdout)
	}
	return res, r
}

func find(r health.Report, id string) []health.Finding {
	var out []health.Finding
	for _, f := range r.Findings {
		if f.ID == id {
			out = append(out, f)
		}
	}
	return out
}

func TestDoctorHealthyThenFragmented(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 1500, ConfigMaps: 300, Events: 3000, PodPadding: 800, EventPadding: 800, ConfigMapPadding: 1500})
	// Seeding's last batches are still being applied: judge the cluster once it is quiet.
	playgroundtest.WaitQuiet(t, c)

	res, r := doctor(t, c, looseDisk...)
	if res.Code != 0 || r.Severity != health.OK {
		for _, f := range r.Findings {
			if f.Severity != health.OK {
				t.Logf("not ok: %+v", f)
			}
		}
		t.Fatalf("healthy seeded cluster: exit %d, severity %s; want 0 and ok", res.Code, r.Severity)
	}
	// The checklist ran in order and covered every member.
	order := []string{"members.list", "status.reachable", "quorum.margin", "quorum.leader", "alarms", "reads.linearizable", "space.quota", "space.fragmentation", "raft.term", "raft.applyGap", "metrics.walFsyncP99", "versions.mixed"}
	last := -1
	for _, id := range order {
		idx := -1
		for i, f := range r.Findings {
			if f.ID == id {
				idx = i
				break
			}
		}
		if idx < 0 || idx < last {
			t.Fatalf("finding %s missing or out of order (at %d, previous at %d)", id, idx, last)
		}
		last = idx
	}
	if n := len(find(r, "space.quota")); n != 3 {
		t.Fatalf("%d space.quota findings, want one per member", n)
	}

	cli := playgroundtest.Client(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := playground.Fragment(ctx, cli, ""); err != nil {
		t.Fatal(err)
	}
	// The playground's database is small: lower the mixin's 100 MiB in-use
	// floor. A ratio that two decimals would round (to 0.38, which would
	// skip members between 0.375 and 0.38) is printed in the rule exactly.
	res, r = doctor(t, c, append(looseDisk, "--set", "frag.minInUse=0", "--set", "frag.ratio=37.5%")...)
	if res.Code != 1 {
		t.Fatalf("fragmented: exit %d, want 1 (warning)", res.Code)
	}
	frag := find(r, "space.fragmentation")
	warned := 0
	for _, f := range frag {
		if f.Severity != health.Warn {
			continue
		}
		warned++
		want := "etcdmedic defrag --rule 'fragmentation >= 0.375' --endpoints " + strings.Join(c.Endpoints(), ",")
		if !strings.HasPrefix(f.Advice, want) {
			t.Fatalf("fragmentation advice %q, want a runnable %q", f.Advice, want)
		}
	}
	if warned != 3 {
		t.Fatalf("%d members warned about fragmentation, want 3: %+v", warned, frag)
	}
	// The table says it too, with the command.
	table := clitest.Run(t, nil, append([]string{"doctor", "--window", "1s", "--endpoints", strings.Join(c.Endpoints(), ","), "--set", "frag.minInUse=0"}, looseDisk...)...)
	if !strings.Contains(table.Stdout, "space.fragmentation") || !strings.Contains(table.Stdout, "→ etcdmedic defrag") {
		t.Fatalf("table lacks the finding or its advice:\n%s", table.Stdout)
	}
}

func TestDoctorNospace(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3, QuotaBytes: 8 << 20})
	playgroundtest.FillUntilNospace(t, c)
	res, r := doctor(t, c, looseDisk...)
	if res.Code != 2 {
		t.Fatalf("NOSPACE: exit %d, want 2", res.Code)
	}
	ns := find(r, "alarms.nospace")
	if len(ns) == 0 || ns[0].Severity != health.Crit {
		t.Fatalf("no critical NOSPACE finding: %+v", ns)
	}
	for _, step := range []string{"etcdmedic inventory", "--compact", "etcdmedic defrag", "disarm"} {
		if !strings.Contains(ns[0].Advice, step) {
			t.Fatalf("NOSPACE advice lacks %q: %s", step, ns[0].Advice)
		}
	}
	// The member that raised the alarm is critical on space whatever its
	// usage figure says (etcd raised it when an apply would have passed the
	// quota). The others' files may be smaller: bbolt grows each member's
	// file on its own, so their figures are judged as they are.
	raised := 0
	for _, q := range find(r, "space.quota") {
		if q.Member == ns[0].Member {
			raised++
			if q.Severity != health.Crit {
				t.Fatalf("space.quota on %s, which raised NOSPACE, = %s (%s); want crit", q.MemberName, q.Severity, q.Observed)
			}
		}
	}
	if raised != 1 {
		t.Fatalf("%d space.quota findings for the member that raised NOSPACE (%s)", raised, ns[0].Member)
	}
}

func TestDoctorWithAHungMember(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	hung := playgroundtest.PauseFollower(t, c)
	// The hung member's timeout passes inside the window, not before it:
	// the run takes about the longer of the two, not their sum (5 s here).
	const timeout, window = 2 * time.Second, 3 * time.Second
	res, r := doctor(t, c, append(looseDisk, "--command-timeout", timeout.String(), "--window", window.String())...)
	if limit := max(timeout, window) + 1500*time.Millisecond; res.Took > limit {
		t.Fatalf("doctor took %s with a hung member, want at most %s", res.Took, limit)
	}
	if res.Code != 1 {
		t.Fatalf("exit %d, want 1 (quorum holds, margin gone)", res.Code)
	}
	margin := find(r, "quorum.margin")
	if len(margin) != 1 || margin[0].Severity != health.Warn {
		t.Fatalf("quorum.margin = %+v, want a warning", margin)
	}
	hungChecks := 0
	for _, f := range r.Findings {
		if f.MemberName != hung.Name {
			continue
		}
		hungChecks++
		if f.Severity != health.Unknown {
			t.Fatalf("hung member's finding %s is %s, want unknown", f.ID, f.Severity)
		}
		if f.Observed == "" || f.Explanation == "" {
			t.Fatalf("unknown finding %s gives no reason", f.ID)
		}
	}
	if hungChecks < 4 {
		t.Fatalf("%d findings for the hung member, want its status, read, space, raft and metrics checks", hungChecks)
	}
	// The others' checks completed.
	if got := len(find(r, "metrics.walFsyncP99")); got != 2 {
		t.Fatalf("%d fsync findings, want one per answering member", got)
	}
}

// Disk latency is judged on the observations made during the window: with
// writes going on during it and a threshold below any real fsync, every
// member warns; the lifetime figure is not what is judged.
func TestDoctorJudgesLatencyOverTheWindow(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	cli := playgroundtest.Client(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			cli.Put(pctx, fmt.Sprintf("/load/%d", i%100), "v")
			pcancel()
		}
	}()
	res, r := doctor(t, c, "--window", "2s", "--set", "fsync.warn=1us", "--set", "commit.warn=1us",
		// A loaded machine can push p99 past the default critical level; this test is about the warning.
		"--set", "fsync.crit=1h", "--set", "commit.crit=1h",
		// The backend commits about every 100 ms: 2 s give some 20 observations,
		// fewer than the default asks before a p99 is judged.
		"--set", "latency.minObservations=5")
	cancel()
	wg.Wait()
	if res.Code != 1 {
		t.Fatalf("exit %d, want 1", res.Code)
	}
	for _, id := range []string{"metrics.walFsyncP99", "metrics.backendCommitP99"} {
		fs := find(r, id)
		if len(fs) != 3 {
			t.Fatalf("%d %s findings", len(fs), id)
		}
		for _, f := range fs {
			if f.Severity != health.Warn || !strings.HasPrefix(f.Observed, "p99 ") {
				t.Fatalf("%s on %s: %s %q; want a warning with a p99", id, f.MemberName, f.Severity, f.Observed)
			}
		}
	}
}

func TestDoctorConsistency(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 200})
	_, r := doctor(t, c, append(looseDisk, "--consistency")...)
	hk := find(r, "consistency.hashkv")
	if len(hk) != 1 || hk[0].Severity != health.OK || !strings.Contains(hk[0].Observed, "one hash") {
		t.Fatalf("consistency = %+v", hk)
	}
}

func TestDoctorBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"doctor", "--preset", "gke"}, "valid presets are openshift, upstream"},
		{[]string{"doctor", "--set", "fsync=1ms"}, "valid keys are"},
		{[]string{"doctor", "--set", "fsync.warn=fast"}, "want a duration"},
		{[]string{"doctor", "--set", "quota.warn=150%"}, "want a ratio"},
		{[]string{"doctor", "--set", "fsync.crit=1ms"}, "fsync.warn is above fsync.crit"},
	} {
		res := clitest.Run(t, nil, tc.args...)
		if res.Code != 64 || !strings.Contains(res.Stderr, tc.want) {
			t.Fatalf("%v: exit %d, stderr %q; want 64 and %q", tc.args, res.Code, res.Stderr, tc.want)
		}
	}
}

// Nothing reachable: the doctor cannot tell (3), and says so in one finding.
func TestDoctorNothingReachable(t *testing.T) {
	res := clitest.Run(t, nil, "doctor", "-o", "json", "--endpoints", "127.0.0.1:1", "--command-timeout", "1s")
	if res.Code != 3 {
		t.Fatalf("exit %d, want 3", res.Code)
	}
	var r health.Report
	if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 1 || r.Findings[0].ID != "members.list" || r.Findings[0].Severity != health.Unknown {
		t.Fatalf("findings = %+v", r.Findings)
	}
}

// --watch without a terminal prints one summary line per round.
func TestDoctorWatchSummaryLines(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := clitest.RunContext(ctx, t, nil, append([]string{"doctor", "--watch", "500ms", "--window", "200ms", "--endpoints", c.Endpoints()[0]}, looseDisk...)...)
	lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
	if len(lines) < 2 {
		t.Fatalf("%d rounds in 5 s, want several:\n%s", len(lines), res.Stdout)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "doctor: OK") {
			t.Fatalf("round line %q", l)
		}
	}
	if res.Code != 0 {
		t.Fatalf("exit %d after interrupt, want the last round's 0", res.Code)
	}
}

// A user without the root role cannot run HashKV: that check is unknown, not
// ok and not failed. (etcd lets any authenticated user read the alarm list.)
func TestDoctorWithoutPermission(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	cli := playgroundtest.Client(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, step := range []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.RoleAdd(ctx, "reader"); return err },
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "reader", "health", "", clientv3.PermissionType(clientv3.PermRead))
			return err
		},
		func() error { _, err := cli.UserAdd(ctx, "viewer", "viewerpw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "viewer", "reader"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	res, r := doctor(t, c, append(looseDisk, "--consistency", "--user", "viewer:viewerpw")...)
	for _, id := range []string{"consistency.hashkv"} {
		fs := find(r, id)
		if len(fs) == 0 {
			t.Fatalf("no %s finding", id)
		}
		for _, f := range fs {
			if f.Severity != health.Unknown {
				t.Fatalf("%s = %s (%s), want unknown", id, f.Severity, f.Observed)
			}
		}
	}
	if res.Code != 3 {
		t.Fatalf("exit %d, want 3 (cannot tell: nothing worse than unknown)", res.Code)
	}
	if strings.Contains(res.Stdout+res.Stderr, "viewerpw") {
		t.Fatal("password in output")
	}
}

// A learner is marked in the member list and read serializably (it serves
// nothing else); it is not a voter for quorum.
func TestDoctorWithALearner(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	learner, err := c.AddLearner(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, r := doctor(t, c, looseDisk...)
	if res.Code != 0 {
		t.Fatalf("exit %d, want 0", res.Code)
	}
	ml := find(r, "members.list")
	if len(ml) != 1 || !strings.Contains(ml[0].Observed, "3 voters, learners "+learner.Name) {
		t.Fatalf("members.list = %+v", ml)
	}
	reads := find(r, "reads.serializable")
	if len(reads) != 1 || reads[0].MemberName != learner.Name || reads[0].Severity != health.OK {
		t.Fatalf("learner read = %+v", reads)
	}
	if m := find(r, "quorum.margin"); m[0].Threshold != "quorum 2" {
		t.Fatalf("quorum = %+v", m)
	}
}

// On a kubeadm node the doctor reads the local member's etcd command line from
// its static-pod manifest: here a manifest describing a real member started
// with the StopGRPCServiceOnDefrag feature gate, and no --endpoints at all.
func TestDoctorReadsTheLocalManifest(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1, Config: map[string]any{"feature-gates": "StopGRPCServiceOnDefrag=true"}})
	m := c.Member(0)
	manifest := filepath.Join(t.TempDir(), "etcd.yaml")
	pod := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: etcd
  namespace: kube-system
spec:
  containers:
  - name: etcd
    command:
    - etcd
    - --name=%s
    - --listen-client-urls=%s
    - --advertise-client-urls=%s
    - --feature-gates=InitialCorruptCheck=true,StopGRPCServiceOnDefrag=true
`, m.Name, m.ClientURL, m.ClientURL)
	if err := os.WriteFile(manifest, []byte(pod), 0o600); err != nil {
		t.Fatal(err)
	}
	res := clitest.Run(t, nil, append([]string{"doctor", "-o", "json", "--window", "200ms", "--manifest", manifest}, looseDisk...)...)
	var r health.Report
	if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
		t.Fatalf("%v\n%s", err, res.Stdout)
	}
	gate := find(r, "settings.stopGRPCServiceOnDefrag")
	if res.Code != 0 || len(gate) != 1 || gate[0].Observed != "on" || gate[0].MemberName != m.Name || gate[0].Member != fmt.Sprintf("%016x", m.ID()) {
		t.Fatalf("exit %d, gate finding %+v; want 0 and on for %s", res.Code, gate, m.Name)
	}
}

// A negative --quota-bytes switches the quota off: the database can then grow
// until the disk is full, which the doctor warns about.
func TestDoctorQuotaDisabled(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1, QuotaBytes: -1})
	res, r := doctor(t, c, append(looseDisk, "--window", "200ms")...)
	q := find(r, "space.quota")
	if res.Code != 1 || len(q) != 1 || q[0].Severity != health.Warn || q[0].Observed != "quota disabled" || !strings.Contains(q[0].Advice, "--quota-bytes") {
		t.Fatalf("exit %d, space.quota %+v; want 1 and a warning that the quota is disabled", res.Code, q)
	}
}

// The doctor against every etcd release line the tool supports (release
// binaries from scripts/build-etcd.sh): healthy, every check answered, and the
// quota found where that release reports it (3.5 has no DbSizeQuota in Status).
func TestDoctorAcrossReleases(t *testing.T) {
	for v, rb := range playgroundtest.ReleaseBinaries(t) {
		t.Run(v, func(t *testing.T) {
			c := playgroundtest.Start(t, playground.Options{Members: 3, EtcdBinary: rb.Etcd})
			res, r := doctor(t, c, looseDisk...)
			if res.Code != 0 {
				for _, f := range r.Findings {
					if f.Severity != health.OK {
						t.Logf("not ok: %+v", f)
					}
				}
				t.Fatalf("etcd %s: exit %d, want 0", v, res.Code)
			}
			mixed := find(r, "versions.mixed")
			if len(mixed) != 1 || !strings.HasPrefix(mixed[0].Observed, strings.TrimPrefix(v, "v")+" on ") {
				t.Fatalf("versions = %+v, want %s on every member", mixed, v)
			}
			wantSource := "quota from status"
			if strings.HasPrefix(v, "v3.5.") {
				wantSource = "quota from metrics"
			}
			for _, q := range find(r, "space.quota") {
				if !strings.Contains(q.Observed, "of 2.0 GiB") || !strings.Contains(q.Observed, wantSource) {
					t.Fatalf("etcd %s: space.quota observed %q, want 2 GiB (%s)", v, q.Observed, wantSource)
				}
			}
			if n := len(find(r, "metrics.walFsyncP99")); n != 3 {
				t.Fatalf("etcd %s: %d fsync findings, want 3", v, n)
			}
		})
	}
}

// With quorum lost (two of three SIGKILLed) doctor is critical, the remove
// and replace advice is gone (neither can commit), and the next step it
// names is the break-glass runbook, with this run's connection flags.
func TestDoctorWithQuorumLost(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	for i := 1; i <= 2; i++ {
		if err := c.Member(i).Kill(); err != nil {
			t.Fatal(err)
		}
	}
	res, r := doctor(t, c, append(looseDisk, "--command-timeout", "1s", "--window", "200ms")...)
	if res.Code != 2 {
		t.Fatalf("exit %d, want 2 (quorum lost)\n%s", res.Code, res.Stderr)
	}
	margin := find(r, "quorum.margin")
	want := "etcdmedic breakglass plan --endpoints " + strings.Join(c.Endpoints(), ",") + " --command-timeout 1s"
	if len(margin) != 1 || margin[0].Severity != health.Crit || !strings.HasSuffix(margin[0].Advice, want) {
		t.Fatalf("quorum.margin = %+v, want critical, its advice ending in %q", margin, want)
	}
	for _, f := range find(r, "status.reachable") {
		if strings.Contains(f.Advice, "member remove") || strings.Contains(f.Advice, "member replace") {
			t.Fatalf("with quorum lost, %s's advice names a membership change that cannot commit: %s", f.MemberName, f.Advice)
		}
	}
	// Each unknown read says why: the dead members could not be reached,
	// the survivor's read waited for a quorum that is gone.
	for _, f := range find(r, "reads.linearizable") {
		want := "the member could not be reached for a linearizable read"
		if f.MemberName == c.Member(0).Name {
			want = "no answer to a linearizable read within the deadline: it needs quorum, which is lost"
		}
		if f.Severity != health.Unknown || f.Explanation != want {
			t.Fatalf("%s's read: %s %q, want unknown %q", f.MemberName, f.Severity, f.Explanation, want)
		}
	}
}
