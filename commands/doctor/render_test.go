package doctor

import (
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

func sampleReport() *health.Report {
	return &health.Report{
		ClusterID: "3f2a4f4c2d6a3b1e", Preset: "upstream", Severity: health.Crit, Started: time.Now(), TookSeconds: 5.1,
		Findings: []health.Finding{
			{ID: "members.reachable", Severity: health.Crit, Member: "fd422379fda50e48", MemberName: "m3",
				Observed: "no answer within 5s", Threshold: "every member answers Status",
				Explanation: "a member that does not answer cannot vote: one more failure and the cluster loses quorum",
				Advice:      "look at the member's host: is the etcd process running, is its disk stalled? (journalctl, crictl logs, dmesg)"},
			{ID: "space.fragmentation", Severity: health.Warn, Member: "8e9e05c52164694d", MemberName: "m1",
				Observed:    "61.3% free of 411 MiB (252 MiB reclaimable, 159 MiB in use)",
				Threshold:   "warn ≥ 50.0% free with ≥ 100 MiB in use",
				Explanation: "free pages count against the quota and make the file larger than the data; a defragmentation returns them to the filesystem",
				Advice:      "etcdmedic defrag --rule 'fragmentation >= 0.50' --endpoints https://10.0.0.11:2379,https://10.0.0.12:2379   # rolling, one member at a time, leader last"},
			{ID: "disk.wal_fsync_p99", Severity: health.Unknown, Member: "91bc3c398fb3c146", MemberName: "m2",
				Explanation: "/metrics could not be read"},
			{ID: "metrics.backendCommitP99", Severity: health.Unknown, Member: "91bc3c398fb3c146", MemberName: "m2",
				Observed: "n/a", Explanation: "the member does not export etcd_disk_backend_commit_duration_seconds"},
			{ID: "quorum.margin", Severity: health.OK, Observed: "3 of 3 voters answer", Threshold: "crit < quorum"},
		},
	}
}

func renderAt(t *testing.T, width int, all bool) string {
	t.Helper()
	ios, out, _ := iostreams.Test()
	ios.SetWidth(width)
	if err := renderTable(&Options{IO: ios, All: all}, sampleReport()); err != nil {
		t.Fatal(err)
	}
	t.Logf("width %d:\n%s", width, out.String())
	return out.String()
}

func TestRenderFits80Columns(t *testing.T) {
	got := renderAt(t, 80, true)
	lines := strings.Split(strings.TrimRight(got, "\n"), "\n")
	for _, l := range lines {
		if n := output.Cells(l); n > 80 {
			t.Fatalf("a line of %d cells at 80 columns: %q", n, l)
		}
	}
	for _, h := range []string{"SEVERITY", "CHECK", "MEMBER", "OBSERVED"} {
		if !strings.Contains(lines[0], h) {
			t.Fatalf("key column %s missing: %q", h, lines[0])
		}
	}
	var unknownRow string
	for _, l := range lines {
		if strings.HasPrefix(l, "unknown") && strings.Contains(l, "disk.wal_fsync_p99") {
			unknownRow = l
			break
		}
	}
	if f := strings.Fields(unknownRow); len(f) < 4 || f[3] != "-" {
		t.Fatalf("an unmeasured finding does not show '-': %q", unknownRow)
	}
	if strings.Contains(got, "n/a") {
		t.Fatal("an unmeasured observation shows n/a, not '-'")
	}
	// Wrapped, not cut: the command still pastes as one, after why to run it.
	if !strings.Contains(got, "→ rolling, one member at a time, leader last:\n      etcdmedic defrag --rule 'fragmentation >= 0.50' --endpoints \\\n          https://10.0.0.11:2379,https://10.0.0.12:2379\n") {
		t.Fatal("the advice's command is not pasteable")
	}
	if !strings.HasPrefix(lines[len(lines)-1], "  ") || !strings.HasPrefix(lines[len(lines)-2], "doctor: CRIT") {
		t.Fatalf("summary line: %q", lines[len(lines)-2:])
	}
}

func TestRenderWideKeepsThreshold(t *testing.T) {
	got := renderAt(t, 0, false)
	if !strings.Contains(got, "THRESHOLD") || !strings.Contains(got, "warn ≥ 50.0% free with ≥ 100 MiB in use") {
		t.Fatal("-o wide lost the threshold")
	}
	if strings.Contains(got, "quorum.margin") {
		t.Fatal("an ok finding listed without --all")
	}
}

// On a narrow terminal a command named inside prose advice still pastes as
// one command (continuation lines end in " \"), and a member added but never
// started, which has no name, is shown by its ID.
func TestRenderNarrowKeepsProseCommandsPasteable(t *testing.T) {
	remove := "etcdmedic member remove 5841b374484ca4c5 --endpoints https://10.0.0.11:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt --cert '/etc/pki/my client.crt'"
	promote := "etcdmedic member promote m4 --wait 10m --endpoints https://10.0.0.11:2379"
	r := &health.Report{ClusterID: "3f2a4f4c2d6a3b1e", Preset: "upstream", Severity: health.Warn, Started: time.Now(), Findings: []health.Finding{
		{ID: "members.unstarted", Severity: health.Warn, Member: "5841b374484ca4c5", Observed: "5841b374484ca4c5",
			Explanation: "added to the member list but never started",
			Advice:      "start the member with the flags 'etcdmedic member add' printed, or remove it: " + remove},
		{ID: "members.learner", Severity: health.Warn, Member: "e1634abd3afc678b", MemberName: "m4", Observed: "learner",
			Explanation: "a learner", Advice: "once it has caught up, promote it: " + promote + "; or remove it: " + remove},
	}}
	ios, out, _ := iostreams.Test()
	ios.SetWidth(60)
	if err := renderTable(&Options{IO: ios}, r); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	t.Logf("width 60:\n%s", got)
	lines := strings.Split(got, "\n")
	if f := strings.Fields(lines[1]); len(f) < 3 || f[2] != "5841b374484ca4c5" {
		t.Fatalf("the unnamed member's row does not show its ID: %q", lines[1])
	}
	if !strings.Contains(got, "warn members.unstarted 5841b374484ca4c5:") {
		t.Fatal("the unnamed member's explanation does not name its ID")
	}
	for _, want := range []string{remove, promote} {
		name := strings.Join(strings.Fields(want)[:3], " ")
		found := 0
		for i := 0; i < len(lines); i++ {
			if !strings.HasPrefix(strings.TrimSpace(lines[i]), name) {
				continue
			}
			cmd := strings.TrimSpace(lines[i])
			for strings.HasSuffix(cmd, " \\") && i+1 < len(lines) {
				i++
				cmd = strings.TrimSuffix(cmd, " \\") + " " + strings.TrimSpace(lines[i])
			}
			if cmd != want {
				t.Fatalf("pasted as printed, the command is\n%q\nwant\n%q", cmd, want)
			}
			found++
		}
		if found == 0 {
			t.Fatalf("%q does not start a line of its own", name)
		}
	}
	for _, l := range lines {
		if n := output.Cells(l); n > 60 && !strings.Contains(l, "/etc/kubernetes/pki/etcd/ca.crt") {
			t.Fatalf("a line of %d cells at 60 columns: %q", n, l)
		}
	}
}
