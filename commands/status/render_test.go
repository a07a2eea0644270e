package status

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

func ptr(f float64) *float64 { return &f }

// A real report's shape: a leader with metrics, a follower whose /metrics
// could not be read, a member that did not answer.
func sampleReport() health.StatusReport {
	return health.StatusReport{
		ClusterID: "3f2a4f4c2d6a3b1e", Leader: "8e9e05c52164694d",
		Quorum:  health.QuorumReport{Voters: 3, Reachable: 2, Needed: 2},
		Verdict: health.VerdictDegraded, Reasons: []string{},
		Members: []health.MemberReport{
			{ID: "8e9e05c52164694d", Name: "m1", Endpoint: "https://10.0.0.11:2379", Version: "3.7.3", IsLeader: true,
				DBSize: 11 << 20, DBSizeInUse: 4613734, Fragmentation: 0.601, Quota: 2 << 30, QuotaSource: cluster.QuotaFromStatus, QuotaUsage: 0.005,
				RaftTerm: 2, RaftIndex: 123456, RaftAppliedIndex: 123456, Alarms: []string{},
				WALFsyncP99Seconds: ptr(0.0021), BackendCommitP99Seconds: ptr(0.004), Verdict: health.VerdictHealthy},
			{ID: "91bc3c398fb3c146", Name: "m2", Endpoint: "https://10.0.0.12:2379", Version: "3.7.3",
				DBSize: 11 << 20, DBSizeInUse: 4613734, Fragmentation: 0.602, Quota: 2 << 30, QuotaSource: cluster.QuotaFromStatus, QuotaUsage: 0.005,
				RaftTerm: 2, RaftIndex: 123456, RaftAppliedIndex: 123450, Alarms: []string{},
				Verdict: health.VerdictHealthy, MetricsError: "GET https://10.0.0.12:2379/metrics: 403 Forbidden"},
			{ID: "fd422379fda50e48", Name: "m3", Endpoint: "https://10.0.0.13:2379", Verdict: health.VerdictUnreachable,
				Error: "https://10.0.0.13:2379: unreachable: accepted the connection but did not answer within the deadline (member hung or overloaded)"},
		},
	}
}

func render(t *testing.T, width int, tty bool) []string {
	t.Helper()
	ios, out, _ := iostreams.Test()
	ios.SetWidth(width)
	ios.SetTTY(tty)
	ios.SetColorEnabled(tty) // colour codes take no cells
	if err := renderTable(ios, sampleReport(), "etcdmedic doctor --endpoints https://10.0.0.11:2379"); err != nil {
		t.Fatal(err)
	}
	t.Logf("width %d tty %v:\n%s", width, tty, out.String())
	return strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
}

func TestRenderFits80Columns(t *testing.T) {
	for _, tty := range []bool{false, true} {
		lines := render(t, 80, tty)
		for _, l := range lines {
			if n := output.Cells(l); n > 80 {
				t.Fatalf("a line of %d cells at 80 columns: %q", n, l)
			}
			if strings.ContainsAny(l, "│┌") {
				t.Fatalf("a box at 80 columns: %q", l)
			}
		}
		header := strings.Fields(lines[0])
		for _, h := range []string{"NAME", "ROLE", "FRAG", "QUOTA", "VERDICT", "FSYNC"} {
			if !strings.Contains(lines[0], h) {
				t.Fatalf("key column %s missing at 80 columns: %v", h, header)
			}
		}
		for _, h := range []string{"ENDPOINT", "APPLIED"} {
			if strings.Contains(lines[0], h) {
				t.Fatalf("low-priority column %s kept at 80 columns: %v", h, header)
			}
		}
		m2, m3 := ansi.Strip(lines[2]), ansi.Strip(lines[3])
		if !strings.HasPrefix(m2, "m2") || !strings.HasPrefix(m3, "m3") {
			t.Fatalf("rows: %q %q", m2, m3)
		}
		if f := strings.Fields(m3); strings.Contains(m3, "0 B") || f[1] != "-" || f[len(f)-1] != "unreachable" {
			t.Fatalf("the unreachable member shows measured values: %q", m3)
		}
		if !strings.Contains(m2, "   -   ") {
			t.Fatalf("m2's unmeasured fsync p99 is not '-': %q", m2)
		}
		if !strings.Contains(strings.Join(lines, "\n"), "hung or overloaded") {
			t.Fatal("the member's error was cut instead of wrapped")
		}
	}
}

func TestRenderWideHasEveryColumn(t *testing.T) {
	lines := render(t, 0, false)
	for _, c := range columns {
		if !strings.Contains(lines[0], c.Header) {
			t.Fatalf("-o wide lost %s: %q", c.Header, lines[0])
		}
	}
	if !strings.Contains(lines[1], "123456") || !strings.Contains(lines[1], "https://10.0.0.11:2379") {
		t.Fatalf("m1: %q", lines[1])
	}
}

// A learner added but never started has no name and no endpoint: its row says
// learner and "-", its note names it by ID; a cluster that is not healthy
// ends with the doctor command to run next, a healthy one does not.
func TestRenderUnstartedLearnerAndNextStep(t *testing.T) {
	r := sampleReport()
	r.Members = append(r.Members, health.MemberReport{ID: "5841b374484ca4c5", IsLearner: true, Verdict: health.VerdictUnreachable,
		Error: "member 5841b374484ca4c5 has not started (added, never joined)"})
	next := "etcdmedic doctor --endpoints https://10.0.0.11:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt --set fsync.warn=20ms"
	for _, width := range []int{0, 60} {
		ios, out, _ := iostreams.Test()
		ios.SetWidth(width)
		if err := renderTable(ios, r, next); err != nil {
			t.Fatal(err)
		}
		got := out.String()
		t.Logf("width %d:\n%s", width, got)
		lines := strings.Split(got, "\n")
		if f := strings.Fields(lines[4]); len(f) < 3 || f[0] != "-" || !strings.Contains(lines[4], "learner") {
			t.Fatalf("the unstarted learner's row: %q", lines[4])
		}
		if !strings.Contains(strings.Join(strings.Fields(got), " "), "! 5841b374484ca4c5: member 5841b374484ca4c5 has not started") {
			t.Fatal("the unstarted member's note does not name it")
		}
		i := strings.Index(got, "→ every finding and the command that fixes it:\n")
		if i < 0 {
			t.Fatal("no next step for a degraded cluster")
		}
		cmd := strings.TrimSpace(strings.SplitN(got[i:], "\n", 2)[1])
		cmd = strings.Join(strings.Fields(strings.ReplaceAll(cmd, " \\\n", " ")), " ")
		if cmd != next {
			t.Fatalf("next step pastes as %q, want %q", cmd, next)
		}
	}
	r.Verdict = health.VerdictHealthy
	ios, out, _ := iostreams.Test()
	if err := renderTable(ios, r, next); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "etcdmedic doctor") {
		t.Fatalf("a healthy cluster is sent to doctor:\n%s", out.String())
	}
}

// With quorum lost the leader etcd still names is no leader to rely on: the
// cluster line says so beside the name.
func TestRenderLeaderWithoutQuorum(t *testing.T) {
	r := sampleReport()
	r.Quorum = health.QuorumReport{Voters: 3, Reachable: 1, Needed: 2, Lost: true}
	r.Verdict = health.VerdictCritical
	for _, c := range []struct {
		lost bool
		want string
	}{{false, ", leader m1, verdict"}, {true, ", leader m1 (without quorum), verdict"}} {
		r.Quorum.Lost = c.lost
		ios, out, _ := iostreams.Test()
		if err := renderTable(ios, r, ""); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), c.want) {
			t.Errorf("quorum lost %v: no %q in\n%s", c.lost, c.want, out.String())
		}
	}
}

// A hung leader is still named by its followers until their election
// timeout: the cluster line says it does not answer.
func TestRenderLeaderThatDoesNotAnswer(t *testing.T) {
	r := sampleReport()
	r.Leader = r.Members[2].ID // m3, the one that does not answer
	ios, out, _ := iostreams.Test()
	if err := renderTable(ios, r, ""); err != nil {
		t.Fatal(err)
	}
	if want := ", leader m3 (does not answer: an election follows), verdict"; !strings.Contains(out.String(), want) {
		t.Errorf("no %q in\n%s", want, out.String())
	}
}
