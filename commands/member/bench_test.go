package member_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/member"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// catchUpRounds counts BenchmarkLearnerCatchUpVsEtcdctl's rounds across
// -count runs, so that which tool goes first alternates.
var catchUpRounds int

// BenchmarkLearnerCatchUpVsEtcdctl times, on one 3-member playground with a
// BENCH_MEMBER_DB_MB (default 500) database, a learner's way from added to
// promoted: with etcdmedic (member add, start from its printed flags,
// member promote --wait) and by hand with the etcd 3.7 release's etcdctl
// (member add --learner, start from its ETCD_INITIAL_CLUSTER, member promote
// polled every 100 ms; then, as the control for etcdmedic's verification,
// etcdctl get on the new member every 100 ms until it serves). Each round
// removes the new member again; which tool
// goes first alternates from round to round. It reports both times and
// their ratio (the target: etcdmedic ≤ 1.1 × etcdctl + 1 s). Run it with
// scripts/bench-member.sh.
func BenchmarkLearnerCatchUpVsEtcdctl(b *testing.B) {
	etcdctl := releaseEtcdctl(b)
	c := benchCluster(b, benchMB())
	voters := c.Members()
	eps := endpoints(c)
	b.ResetTimer()
	var ours, oursPromoted, theirs, theirsServing time.Duration
	for i := 0; i < b.N; i++ {
		etcdmedicFirst := catchUpRounds%2 == 0
		catchUpRounds++
		for k := 0; k < 2; k++ {
			// Whether the leader sent a raft snapshot, untimed: once its
			// log is compacted (in 3.7 after every 100 applied entries,
			// to 5000 behind) a new member gets one, whatever it is.
			before := snapshotsSent(b, voters)
			name := fmt.Sprintf("e%d", catchUpRounds)
			if (k == 0) == etcdmedicFirst {
				name = fmt.Sprintf("b%d", catchUpRounds)
				t, p := catchUpWithEtcdmedic(b, c, eps, name)
				ours += t
				oursPromoted += p
			} else {
				p, sv := catchUpWithEtcdctl(b, c, eps, etcdctl, name)
				theirs += p
				theirsServing += sv
			}
			after := snapshotsSent(b, voters)
			fmt.Fprintf(os.Stderr, "bench: %s: the leader sent %.0f raft snapshot(s) (etcd_network_snapshot_send_success %v -> %v)\n", name, after.count-before.count, before.count, after.count)
		}
	}
	b.ReportMetric(ours.Seconds()/float64(b.N), "etcdmedic-s/op")
	b.ReportMetric(oursPromoted.Seconds()/float64(b.N), "etcdmedic-promoted-s/op")
	b.ReportMetric(theirs.Seconds()/float64(b.N), "etcdctl-s/op")
	b.ReportMetric(theirsServing.Seconds()/float64(b.N), "etcdctl-serving-s/op")
	b.ReportMetric(ours.Seconds()/theirs.Seconds(), "ratio")
	b.ReportMetric(ours.Seconds()/theirsServing.Seconds(), "ratio-serving")
	b.ReportMetric(load1(), "load1")
}

// releaseEtcdctl is the etcd 3.7 release's etcdctl, the by-hand contender.
func releaseEtcdctl(b *testing.B) string {
	b.Helper()
	for v, rb := range playgroundtest.ReleaseBinaries(b) {
		if strings.HasPrefix(v, "v3.7.") {
			return rb.Etcdctl
		}
	}
	b.Fatal("no etcd 3.7 release binaries (scripts/build-etcd.sh)")
	return ""
}

// catchUpWithEtcdmedic returns the time from added to promoted and
// verified, and when within it the promote itself succeeded (promote's
// waitedSeconds after its start: the rest is its verification, mostly the
// new voter's publish through raft).
func catchUpWithEtcdmedic(b *testing.B, c *playground.Cluster, eps, name string) (took, promoted time.Duration) {
	clientURL, peerURL := newURLs(b, c)
	start := time.Now()
	res := runEtcdmedic(b, "member", "add", name, "--peer-urls", peerURL, "--yes", "-o", "json", "--endpoints", eps)
	var added struct {
		ID    string `json:"id"`
		Start struct {
			Flags []string `json:"flags"`
		} `json:"start"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &added); err != nil || res.Code != 0 {
		b.Fatalf("add: exit %d %v\n%s", res.Code, err, res.Stderr)
	}
	addTook := time.Since(start)
	m, err := c.StartJoining(clientURL, added.Start.Flags)
	if err != nil {
		b.Fatal(err)
	}
	promoteStart := time.Since(start)
	res = runEtcdmedic(b, "member", "promote", added.ID, "--wait", "30m", "--yes", "-o", "json", "--endpoints", eps)
	took = time.Since(start)
	var p struct {
		WaitedSeconds float64 `json:"waitedSeconds"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &p); err != nil || res.Code != 0 {
		b.Fatalf("promote: exit %d %v\n%s", res.Code, err, res.Stderr)
	}
	promoted = promoteStart + time.Duration(p.WaitedSeconds*float64(time.Second))
	fmt.Fprintf(os.Stderr, "bench: etcdmedic %s: add %.2fs, start + promote --wait %.2fs, total %.2fs (promoted at %.2fs, then verified it serves a linearizable read)\n",
		name, addTook.Seconds(), (took - addTook).Seconds(), took.Seconds(), promoted.Seconds())
	benchRemove(b, eps, added.ID, m)
	return took, promoted
}

func catchUpWithEtcdctl(b *testing.B, c *playground.Cluster, eps, etcdctl, name string) (promoted, serving time.Duration) {
	clientURL, peerURL := newURLs(b, c)
	start := time.Now()
	out, err := exec.Command(etcdctl, "--endpoints", eps, "member", "add", name, "--learner", "--peer-urls", peerURL).CombinedOutput()
	if err != nil {
		b.Fatalf("etcdctl member add: %v\n%s", err, out)
	}
	id := regexp.MustCompile(`Member\s+([0-9a-f]+) added`).FindSubmatch(out)
	initial := regexp.MustCompile(`ETCD_INITIAL_CLUSTER="([^"]*)"`).FindSubmatch(out)
	if id == nil || initial == nil {
		b.Fatalf("etcdctl member add said:\n%s", out)
	}
	addTook := time.Since(start)
	m, err := c.StartJoining(clientURL, []string{"--name=" + name, "--initial-cluster=" + string(initial[1]), "--initial-cluster-state=existing", "--initial-advertise-peer-urls=" + peerURL})
	if err != nil {
		b.Fatal(err)
	}
	for {
		if err := exec.Command(etcdctl, "--endpoints", eps, "member", "promote", string(id[1])).Run(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond) // the by-hand poll interval
	}
	took := time.Since(start)
	// etcdmedic's promote also verifies that the new voter serves a
	// linearizable read; a member serves clients only once it has
	// published itself through raft, which can take etcd's request timeout
	// when its first attempt is lost. The same by hand: etcdctl get on it,
	// every 100 ms.
	for exec.Command(etcdctl, "--endpoints", clientURL, "--command-timeout", "1s", "get", "/bench-serving").Run() != nil {
		time.Sleep(100 * time.Millisecond) // the by-hand poll interval
	}
	serving = time.Since(start)
	fmt.Fprintf(os.Stderr, "bench: etcdctl %s: add %.2fs, start + promote polled %.2fs, total %.2fs, serving a linearizable read at %.2fs\n",
		name, addTook.Seconds(), (took - addTook).Seconds(), took.Seconds(), serving.Seconds())
	benchRemove(b, eps, string(id[1]), m)
	return took, serving
}

// benchRemove removes the round's member and waits for its process to end.
func benchRemove(b *testing.B, eps, id string, m *playground.Member) {
	b.Helper()
	if res := clitest.Run(b, nil, "member", "remove", id, "--yes", "--endpoints", eps); res.Code != 0 {
		b.Fatalf("remove %s: exit %d\n%s", id, res.Code, res.Stderr)
	}
	if err := m.Stop(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkReplaceAllThreeMembers replaces m1, m2 and m3 of a 3-member
// playground holding BENCH_MEMBER_DB_MB (default 500) in turn with
// `member replace`, driven as an operator would (NEW started from the
// journal's flags, OLD stopped with SIGTERM when asked). Inside the same
// run it measures each replacement's phases from its journal: the catch-up
// (NEW started → promoted, which includes promote's gate and etcd's own
// sync), the gates (the first gate, and the final gate with HashKV), and the
// rest (add, leader move, waiting for OLD to stop, remove), each summed
// over the three, and between (the driver's own time between commands).
// The next replacement starts when the command before it returns, as an
// operator's would, while OLD's process may still be exiting. The target:
// wall ≤ 1.2 × (Σ catch-ups + Σ gates).
func BenchmarkReplaceAllThreeMembers(b *testing.B) {
	var wall, catchUp, gates, between, refused time.Duration
	steps := map[string]time.Duration{}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := benchCluster(b, benchMB())
		current := map[string]string{}
		for _, m := range c.Members() {
			current[m.Name] = m.ClientURL
		}
		seen := map[string]int64{}
		printPeerLog(c, seen, true)
		b.StartTimer()
		start := time.Now()
		last := start
		var runs []*replaceRun
		for k, old := range []string{"m1", "m2", "m3"} {
			var eps []string
			for _, u := range current {
				eps = append(eps, u)
			}
			r := driveReplace(b, c, old, fmt.Sprintf("n%d", k+1), strings.Join(eps, ","))
			if r.Res.Code != 0 {
				b.Fatalf("replace %s: exit %d\n%s", old, r.Res.Code, r.Res.Stderr)
			}
			cu := r.At[member.StepPromote].Sub(r.Started)
			g := r.took(member.StepGate) + r.took(member.StepVerify)
			catchUp += cu
			gates += g
			between += r.Began.Sub(last)
			last = r.Ended
			for _, s := range []string{member.StepAdd, member.StepMoveLeader, member.StepStopOld, member.StepRemove} {
				steps[s] += r.took(s)
			}
			runs = append(runs, r)
			delete(current, old)
			current[r.Name] = r.ClientURL
		}
		wall += time.Since(start)
		between += time.Since(last)
		b.StopTimer()
		// Untimed: OLD's processes finish exiting, the timelines print
		// with how long etcd refused each add.
		for _, r := range runs {
			r.waitOld(b)
			cu := r.At[member.StepPromote].Sub(r.Started)
			g := r.took(member.StepGate) + r.took(member.StepVerify)
			ref, n := addRefused(c, r.Began, r.At[member.StepAdd])
			refused += ref
			// A learner's first publish of its name, proposed before the
			// leader's snapshot reached it, is never applied on it: etcd
			// tries again after its request timeout, and the learner
			// serves no client (nor lists its name) until then.
			published := "published at once"
			if fails := logged(memberNamed(c, r.Name), "failed to publish local member", r.Started, r.At[member.StepPromote]); len(fails) > 0 {
				published = fmt.Sprintf("its publish timed out %d time(s), at %s", len(fails), fails[0].Local().Format("15:04:05.000"))
			}
			fmt.Fprintf(os.Stderr, "bench: %s; catch-up %.1fs (NEW %s), gates %.1fs, rest %.1fs (of it etcd refused the add %.2fs, %d times)\n",
				r.timeline(), cu.Seconds(), published, g.Seconds(), (r.Ended.Sub(r.Began) - cu - g).Seconds(), ref.Seconds(), n)
		}
		printPeerLog(c, seen, false)
	}
	n := float64(b.N)
	b.ReportMetric(wall.Seconds()/n, "wall-s/op")
	b.ReportMetric(catchUp.Seconds()/n, "catchup-s/op")
	b.ReportMetric(gates.Seconds()/n, "gates-s/op")
	b.ReportMetric(wall.Seconds()/(catchUp+gates).Seconds(), "ratio")
	for s, d := range steps {
		b.ReportMetric(d.Seconds()/n, s+"-s/op")
	}
	b.ReportMetric(between.Seconds()/n, "between-s/op")
	b.ReportMetric(refused.Seconds()/n, "add-refused-s/op")
	b.ReportMetric(wall.Seconds()/(catchUp+gates+refused).Seconds(), "ratio-with-refusals")
	b.ReportMetric(load1(), "load1")
}

// load1 is the 1-minute load average as the run ends (0 when unreadable).
func load1() float64 {
	data, _ := os.ReadFile("/proc/loadavg")
	f, _ := strconv.ParseFloat(strings.Fields(string(data) + " 0")[0], 64)
	return f
}
