package member_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// snapCatchUpRounds counts BenchmarkLearnerSnapshotCatchUpVsEtcdctl's
// rounds across -count runs, so that which tool goes first alternates.
var snapCatchUpRounds int

// raftLogFill is how many entries the snapshot benchmark writes before its
// rounds. etcd 3.7 takes an in-memory raft snapshot every 100 applied
// entries and then compacts its raft log to applied − SnapshotCatchUpEntries
// (5000; server/etcdserver/server.go, compactRaftLog), or to index 1 while
// fewer are applied: either way a leader no longer holds entry 1, and a
// member that joins empty can only be sent the whole database as a raft
// snapshot — as in any cluster that has run a while. The 500 MB seed (~600
// entries) crosses that already (BenchmarkLearnerCatchUpVsEtcdctl prints a
// snapshot per round too); a small one (16 MB: fewer than 100 entries) does
// not, and its learners catch up from log entries. The fill makes the
// snapshot certain at every size and keeps 5000 entries for the learner to
// apply after it, as a busy cluster would. (snapshot-count sets only the
// disk snapshots in 3.7, so the members keep etcd's defaults.)
const raftLogFill = 5300

// BenchmarkLearnerSnapshotCatchUpVsEtcdctl is BenchmarkLearnerCatchUpVsEtcdctl
// (the same contenders, rounds and target) on a playground whose leaders
// have compacted their raft log past what a new member needs: every learner
// receives the BENCH_MEMBER_DB_MB database as a raft snapshot. Each
// contender's round proves it from the voters' own counters,
// etcd_network_snapshot_send_success and
// etcd_network_snapshot_send_total_duration_seconds (a histogram: its _sum),
// read before and after (a round whose leader sent no snapshot fails the
// benchmark).
func BenchmarkLearnerSnapshotCatchUpVsEtcdctl(b *testing.B) {
	etcdctl := releaseEtcdctl(b)
	c := benchCluster(b, benchMB())
	voters := c.Members()
	eps := endpoints(c)
	fillRaftLog(b, c, raftLogFill)
	b.ResetTimer()
	var ours, oursPromoted, theirs, theirsServing, oursSend, theirsSend time.Duration
	for i := 0; i < b.N; i++ {
		etcdmedicFirst := snapCatchUpRounds%2 == 0
		snapCatchUpRounds++
		for k := 0; k < 2; k++ {
			before := snapshotsSent(b, voters)
			var who, name string
			if (k == 0) == etcdmedicFirst {
				who, name = "etcdmedic", fmt.Sprintf("sb%d", snapCatchUpRounds)
				t, p := catchUpWithEtcdmedic(b, c, eps, name)
				ours += t
				oursPromoted += p
			} else {
				who, name = "etcdctl", fmt.Sprintf("se%d", snapCatchUpRounds)
				p, sv := catchUpWithEtcdctl(b, c, eps, etcdctl, name)
				theirs += p
				theirsServing += sv
			}
			sent := snapshotSentSince(b, voters, before)
			fmt.Fprintf(os.Stderr, "bench: snapshot %s %s: the leader sent %.0f raft snapshot(s) (etcd_network_snapshot_send_success %v -> %v), sending took %.2fs (etcd_network_snapshot_send_total_duration_seconds_sum)\n",
				who, name, sent.count-before.count, before.count, sent.count, (sent.took - before.took).Seconds())
			if who == "etcdmedic" {
				oursSend += sent.took - before.took
			} else {
				theirsSend += sent.took - before.took
			}
		}
	}
	n := float64(b.N)
	b.ReportMetric(ours.Seconds()/n, "etcdmedic-s/op")
	b.ReportMetric(oursPromoted.Seconds()/n, "etcdmedic-promoted-s/op")
	b.ReportMetric(theirs.Seconds()/n, "etcdctl-s/op")
	b.ReportMetric(theirsServing.Seconds()/n, "etcdctl-serving-s/op")
	b.ReportMetric(ours.Seconds()/theirs.Seconds(), "ratio")
	b.ReportMetric(ours.Seconds()/theirsServing.Seconds(), "ratio-serving")
	b.ReportMetric(oursSend.Seconds()/n, "etcdmedic-snapshot-send-s/op")
	b.ReportMetric(theirsSend.Seconds()/n, "etcdctl-snapshot-send-s/op")
	b.ReportMetric(load1(), "load1")
}

// fillRaftLog writes n small keys (16 writers; each put with a deadline),
// untimed, then waits for the members to apply them.
func fillRaftLog(b *testing.B, c *playground.Cluster, n int) {
	b.Helper()
	cli := playgroundtest.Client(b, c)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := cli.Put(ctx, fmt.Sprintf("/bench-fill/%05d", i), "x")
				cancel()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("fill the raft log: %v", err)
	}
	playgroundtest.WaitQuiet(b, c)
}

// snapshotCounters are the voters' summed snapshot-send counters.
type snapshotCounters struct {
	count float64
	took  time.Duration
}

// snapshotSentSince waits (untimed, up to 30 s) for the voters' counters to
// show a snapshot sent after before: etcd counts a send once the receiver
// has answered, which the promote does not wait for.
func snapshotSentSince(b *testing.B, voters []*playground.Member, before snapshotCounters) snapshotCounters {
	b.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		now := snapshotsSent(b, voters)
		if now.count > before.count {
			return now
		}
		if time.Now().After(deadline) {
			b.Fatalf("no raft snapshot was sent (etcd_network_snapshot_send_success stayed %v): the learner caught up from log entries; fill the raft log further", now.count)
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
}

func snapshotsSent(b *testing.B, voters []*playground.Member) snapshotCounters {
	b.Helper()
	var s snapshotCounters
	hc := &http.Client{Timeout: 10 * time.Second}
	for _, m := range voters {
		resp, err := hc.Get(m.ClientURL + "/metrics")
		if err != nil {
			b.Fatalf("metrics of %s: %v", m.Name, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			b.Fatalf("metrics of %s: %v", m.Name, err)
		}
		s.count += metricSum(string(body), "etcd_network_snapshot_send_success")
		s.took += time.Duration(metricSum(string(body), "etcd_network_snapshot_send_total_duration_seconds_sum") * float64(time.Second))
	}
	return s
}

// metricSum adds up every series of a Prometheus text metric (one per peer).
func metricSum(text, name string) float64 {
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest != "" && rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		f := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			sum += v
		}
	}
	return sum
}
