package health

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// A hung leader that its followers still name: their linearizable reads
// time out waiting for it, and doctor says so (and to look again in a few
// seconds) instead of a bare "no answer within the deadline".
func TestReadsWaitingForAHungLeaderSayWhy(t *testing.T) {
	th, _ := Resolve("", nil)
	snap, reads := healthySample() // m1 leads
	hung := fmt.Errorf("http://127.0.0.1:1: %w: accepted the connection but did not answer", cluster.ErrUnreachable)
	snap.Members[0].Status, snap.Members[0].Err = nil, hung
	reads[1] = ReadResult{Err: hung}
	for _, id := range []uint64{2, 3} {
		reads[id] = ReadResult{Err: errors.New("context deadline exceeded")}
	}
	var got int
	for _, f := range Assess(snap, SampleOptions{Thresholds: th, Reads: reads}) {
		if f.ID != "reads.linearizable" || f.Member == cluster.FormatID(1) {
			continue
		}
		got++
		if f.Severity != Unknown || !strings.Contains(f.Explanation, "it waits for the leader, m1, which does not answer") || !strings.Contains(f.Advice, "etcdmedic doctor") {
			t.Errorf("%s's read: %s %q, advice %q", f.MemberName, f.Severity, f.Explanation, f.Advice)
		}
	}
	if got != 2 {
		t.Fatalf("%d read findings for the followers, want 2", got)
	}
	// In doctor, the advice runs doctor again with this run's window and
	// thresholds (a --set with a space in it quoted), connection last.
	d := &judge{ms: snap.Membership, t: th, window: 500 * time.Millisecond, connection: "--endpoints h:1",
		rerun: []string{"--preset", "openshift", "--set", "read.warn=1s", "--set", "quota.warn= 70%", "--consistency"}}
	d.checkReads(snap, reads)
	want := "etcdmedic doctor --preset openshift --set read.warn=1s --set 'quota.warn= 70%' --consistency --window 500ms --endpoints h:1"
	for _, f := range d.out {
		if f.ID == "reads.linearizable" && f.Member == cluster.FormatID(2) && !strings.HasSuffix(f.Advice, want) {
			t.Errorf("doctor's advice %q: want it to end %q", f.Advice, want)
		}
	}
	// The leader answering: the same timeout says only that.
	snap, reads = healthySample()
	reads[2] = ReadResult{Err: errors.New("context deadline exceeded")}
	for _, f := range Assess(snap, SampleOptions{Thresholds: th, Reads: reads}) {
		if f.ID == "reads.linearizable" && f.Member == cluster.FormatID(2) && f.Explanation != "no answer to a linearizable read within the deadline" {
			t.Errorf("with the leader answering: %q", f.Explanation)
		}
	}
}
