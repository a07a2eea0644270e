package member_test

import (
	"context"
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
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// BenchmarkLearnerCatchUpVsEtcdctl times, on one 3-member playground with a
// BENCH_MEMBER_DB_MB (default 500) database, a learner's way from added to
// promoted: with etcdmedic (member add, start from its printed flags,
// member promote --wait) and by hand with the etcd 3.7 release's etcdctl
// (member add --learner, start from its ETCD_INITIAL_CLUSTER, member promote
// polled every 100 ms). Each round removes the new member again. It reports
// both times and their ratio (the target: etcdmedic ≤ 1.1 × etcdctl + 1 s).
// It runs only with -bench.
func BenchmarkLearnerCatchUpVsEtcdctl(b *testing.B) {
	mb := 500
	if v, err := strconv.Atoi(os.Getenv("BENCH_MEMBER_DB_MB")); err == nil && v > 0 {
		mb = v
	}
	var etcdctl string
	for v, rb := range playgroundtest.ReleaseBinaries(b) {
		if strings.HasPrefix(v, "v3.7.") {
			etcdctl = rb.Etcdctl
		}
	}
	c := playgroundtest.Start(b, playground.Options{Members: 3, QuotaBytes: int64(mb+512) << 20})
	cli := playgroundtest.Client(b, c)
	value := strings.Repeat("v", 1<<20)
	for i := 0; i < mb; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("/bench/%05d", i), value)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	eps := endpoints(c)
	var ours, theirs time.Duration
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("b%d", i)
		clientURL, peerURL := newURLs(b, c)
		start := time.Now()
		res := clitest.Run(b, nil, "member", "add", name, "--peer-urls", peerURL, "--yes", "-o", "json", "--endpoints", eps)
		var added struct {
			ID    string `json:"id"`
			Start struct {
				Flags []string `json:"flags"`
			} `json:"start"`
		}
		if err := json.Unmarshal([]byte(res.Stdout), &added); err != nil || res.Code != 0 {
			b.Fatalf("add: exit %d %v", res.Code, err)
		}
		m, err := c.StartJoining(clientURL, added.Start.Flags)
		if err != nil {
			b.Fatal(err)
		}
		if res := clitest.Run(b, nil, "member", "promote", added.ID, "--wait", "30m", "--yes", "--endpoints", eps); res.Code != 0 {
			b.Fatalf("promote: exit %d\n%s", res.Code, res.Stderr)
		}
		ours += time.Since(start)
		benchRemove(b, eps, added.ID, m)

		name = fmt.Sprintf("e%d", i)
		clientURL, peerURL = newURLs(b, c)
		start = time.Now()
		out, err := exec.Command(etcdctl, "--endpoints", eps, "member", "add", name, "--learner", "--peer-urls", peerURL).CombinedOutput()
		if err != nil {
			b.Fatalf("etcdctl member add: %v\n%s", err, out)
		}
		id := regexp.MustCompile(`Member ([0-9a-f]+) added`).FindSubmatch(out)
		initial := regexp.MustCompile(`ETCD_INITIAL_CLUSTER="([^"]*)"`).FindSubmatch(out)
		if id == nil || initial == nil {
			b.Fatalf("etcdctl member add said:\n%s", out)
		}
		m, err = c.StartJoining(clientURL, []string{"--name=" + name, "--initial-cluster=" + string(initial[1]), "--initial-cluster-state=existing", "--initial-advertise-peer-urls=" + peerURL})
		if err != nil {
			b.Fatal(err)
		}
		for {
			if err := exec.Command(etcdctl, "--endpoints", eps, "member", "promote", string(id[1])).Run(); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond) // the by-hand poll interval
		}
		theirs += time.Since(start)
		benchRemove(b, eps, string(id[1]), m)
	}
	b.ReportMetric(ours.Seconds()/float64(b.N), "etcdmedic-s/op")
	b.ReportMetric(theirs.Seconds()/float64(b.N), "etcdctl-s/op")
	b.ReportMetric(ours.Seconds()/theirs.Seconds(), "ratio")
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
