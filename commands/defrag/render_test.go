package defrag

import (
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/defrag"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

const (
	m2Reason = "rule true: dbSize=11534336 dbSizeInUse=4669440 dbSizeFree=6864896 dbQuota=2147483648 dbQuotaUsage=0.005 fragmentation=0.595 isLeader=false"
	m1Reason = "rule false: dbSize=11534336 dbSizeInUse=10948608 dbSizeFree=585728 dbQuota=2147483648 dbQuotaUsage=0.005 fragmentation=0.051 isLeader=true"
)

// A dry run's events as defrag.Run emits them: a follower to defragment, a
// member without status, the leader whose rule is false, and a gate that
// would refuse the real run.
func dryRunEvents() []defrag.Event {
	plan := []defrag.PlanEntry{
		{Member: "91bc3c398fb3c146", MemberName: "m2", Role: "follower", Defragment: true, Reason: m2Reason,
			DBSize: 11534336, ReclaimableBytes: 6864896, PredictedSeconds: 0.55, StopGRPCServiceOnDefrag: defrag.GRPCHealthUnknown},
		{Member: "fd422379fda50e48", MemberName: "m3", Role: "follower", Reason: "no status now: context deadline exceeded",
			StopGRPCServiceOnDefrag: defrag.GRPCHealthUnknown},
		{Member: "8e9e05c52164694d", MemberName: "m1", Role: "leader", Reason: m1Reason,
			DBSize: 11534336, ReclaimableBytes: 585728, PredictedSeconds: 0.61, StopGRPCServiceOnDefrag: defrag.GRPCHealthUnknown},
	}
	refusal := "a real run would be refused now: voter m3 (fd422379fda50e48) does not answer: context deadline exceeded"
	sum := &defrag.Summary{DryRun: true, StoppedBy: refusal, Members: []defrag.MemberResult{}}
	return []defrag.Event{
		{Event: defrag.EventPlan, OK: true, Plan: plan, Message: "rule: fragmentation >= 0.5"},
		{Event: defrag.EventGate, Message: "voter m3 (fd422379fda50e48) does not answer: context deadline exceeded"},
		{Event: defrag.EventSummary, Message: refusal, Summary: sum},
	}
}

func renderEvents(t *testing.T, width int) []string {
	t.Helper()
	ios, out, _ := iostreams.Test()
	ios.SetWidth(width)
	p := &printer{io: ios, format: output.Table, rule: "fragmentation >= 0.5"}
	for _, e := range dryRunEvents() {
		p.event(e)
	}
	t.Logf("width %d:\n%s", width, out.String())
	return strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
}

func TestDryRunTableFits80Columns(t *testing.T) {
	lines := renderEvents(t, 80)
	for _, l := range lines {
		if n := output.Cells(l); n > 80 {
			t.Fatalf("a line of %d cells at 80 columns: %q", n, l)
		}
	}
	header := lines[1]
	for _, h := range []string{"MEMBER", "DEFRAG", "DB SIZE", "RECLAIMABLE", "REASON"} {
		if !strings.Contains(header, h) {
			t.Fatalf("key column %s missing: %q", h, header)
		}
	}
	rows := map[string]string{}
	for _, l := range lines[2:5] {
		f := strings.Fields(l)
		for _, c := range f {
			if c == "m1" || c == "m2" || c == "m3" {
				rows[c] = l
			}
		}
	}
	if !strings.Contains(rows["m2"], "frag 59.5% ≥ 50%") || !strings.Contains(rows["m1"], "frag 5.1% < 50%") {
		t.Fatalf("short reasons: %q / %q", rows["m2"], rows["m1"])
	}
	if strings.Contains(rows["m3"], "0 B") || !strings.Contains(rows["m3"], " -  ") || !strings.Contains(rows["m3"], "no status: context") {
		t.Fatalf("the member without status shows measured values: %q", rows["m3"])
	}
	if last := strings.Join(lines[len(lines)-3:], " "); !strings.Contains(last, "✗ dry run, nothing changed: a real run would be refused now") || strings.Contains(last, "0 B") {
		t.Fatalf("the summary does not say the real run would be refused: %q", lines[len(lines)-2:])
	}
}

func TestDryRunTableWideKeepsEverything(t *testing.T) {
	lines := renderEvents(t, 0)
	all := strings.Join(lines, "\n")
	for _, want := range []string{"ORDER", "PREDICTED STALL", m2Reason, m1Reason} {
		if !strings.Contains(all, want) {
			t.Fatalf("-o wide lost %q", want)
		}
	}
}

func TestShortReason(t *testing.T) {
	for _, tc := range []struct{ rule, reason, want string }{
		{"fragmentation >= 0.5", m2Reason, "frag 59.5% ≥ 50%"},
		{"fragmentation >= 0.45 && dbSize >= 100*1024*1024", m2Reason, "frag 59.5% ≥ 45%, db 11 MiB < 100 MiB"},
		{"dbSizeInUse / dbSize < 0.5 && dbSizeInUse > 100*1024*1024", m2Reason, "in use 40.5% < 50%, in use 4.5 MiB ≤ 100 MiB"},
		{"dbQuotaUsage > 0.8 || dbSizeFree > 200*1024*1024", m1Reason, "quota 0.5% ≤ 80%, free 572 KiB ≤ 200 MiB"},
		{"true", m2Reason, "frag 59.5%"},
		{"true", "learners are skipped: they serve no clients and do not count for quorum", "learners are skipped"},
		{"true", "no status now: context deadline exceeded", "no status: context deadline exceeded"},
	} {
		if got := shortReason(tc.reason, tc.rule); got != tc.want {
			t.Errorf("%s on %q: %q, want %q", tc.rule, tc.reason, got, tc.want)
		}
	}
}
