package status

import (
	"fmt"
	"strings"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/humanize"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

// columns, by what an on-call person needs first: who, how big, how
// fragmented, how close to the quota, how slow the disk, the verdict. IDs,
// endpoints and raft indexes go first on a narrow terminal (-o wide and
// JSON keep them).
var columns = []output.Column{
	{Header: "NAME"},
	{Header: "ID", Priority: 7},
	{Header: "ENDPOINT", Priority: 6},
	{Header: "VERSION", Priority: 5},
	{Header: "ROLE", Priority: 1},
	{Header: "DB SIZE", Priority: 1},
	{Header: "IN USE", Priority: 3},
	{Header: "FRAG", Priority: 1},
	{Header: "QUOTA", Priority: 1},
	{Header: "TERM", Priority: 8},
	{Header: "INDEX", Priority: 8},
	{Header: "APPLIED", Priority: 8},
	// Alarms also make the verdict critical and are named below the table.
	{Header: "ALARMS", Priority: 3},
	{Header: "FSYNC P99", Priority: 2},
	{Header: "COMMIT P99", Priority: 4},
	{Header: "VERDICT"},
}

// renderTable prints the rows, the cluster line, one note per member that
// needs one and, unless the cluster is healthy, next: the command to run
// next (doctor, with the flags of this run).
func renderTable(io *iostreams.IOStreams, r health.StatusReport, next string) error {
	p, width := io.Palette(), io.Width()
	t := output.NewFitTable(io.Out, io.IsStdoutTTY(), width, columns...)
	for _, m := range r.Members {
		role := "follower"
		switch {
		case m.IsLearner:
			role = "learner"
		case m.IsLeader:
			role = "leader"
		}
		if m.Error != "" {
			// Nothing was measured: "-", never a zero that reads as a value.
			// A learner is one by the member list, whether it answers or not.
			role = "-"
			if m.IsLearner {
				role = "learner"
			}
			t.Row(dash(m.Name), m.ID, dash(m.Endpoint), "-", role, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", style(p, m.Verdict))
			continue
		}
		quota := humanize.Percent(m.QuotaUsage) + " of " + humanize.Bytes(m.Quota)
		if m.QuotaSource == cluster.QuotaDisabled {
			quota = "disabled"
		} else if m.QuotaSource != cluster.QuotaFromStatus {
			quota += " (" + m.QuotaSource + ")"
		}
		alarms := "-"
		if len(m.Alarms) > 0 {
			alarms = p.Bad.Render(strings.Join(m.Alarms, ","))
		}
		t.Row(m.Name, m.ID, m.Endpoint, dash(m.Version), role,
			humanize.Bytes(m.DBSize), humanize.Bytes(m.DBSizeInUse), humanize.Percent(m.Fragmentation), quota,
			fmt.Sprint(m.RaftTerm), fmt.Sprint(m.RaftIndex), fmt.Sprint(m.RaftAppliedIndex), alarms,
			latency(m.WALFsyncP99Seconds), latency(m.BackendCommitP99Seconds), style(p, m.Verdict))
	}
	if err := t.Render(); err != nil {
		return err
	}
	out := io.Out
	line := func(indent, text string) {
		fmt.Fprintln(out, output.Wrap(indent+text, width, indent+"  "))
	}
	fmt.Fprintln(out)
	leader, leaderSilent := r.Leader, false
	for _, m := range r.Members {
		if m.ID == r.Leader {
			if m.Name != "" {
				leader = m.Name
			}
			leaderSilent = m.Error != ""
		}
	}
	switch {
	case leader == "":
		leader = "none"
	case r.Quorum.Lost:
		leader += " (without quorum)"
	case leaderSilent:
		// The followers name it until their election timeout.
		leader += " (does not answer: an election follows)"
	}
	line("", fmt.Sprintf("cluster %s: %d of %d voters answer (quorum %d), leader %s, verdict %s",
		r.ClusterID, r.Quorum.Reachable, r.Quorum.Voters, r.Quorum.Needed, leader, style(p, r.Verdict)))
	for _, reason := range r.Reasons {
		line("  ", p.Bad.Render("!")+" "+reason)
	}
	for _, m := range r.Members {
		// A member added but never started has no name: its ID says which.
		who := m.Name
		if who == "" {
			who = m.ID
		}
		switch {
		case m.Error != "":
			line("  ", fmt.Sprintf("%s %s: %s", p.Bad.Render("!"), who, m.Error))
		case len(m.Reasons) > 0:
			line("  ", fmt.Sprintf("%s %s: %s", p.Warn.Render("~"), who, strings.Join(m.Reasons, "; ")))
		}
		if m.MetricsError != "" {
			line("  ", fmt.Sprintf("%s %s: metrics unavailable: %s", p.Dim.Render("·"), who, m.MetricsError))
		}
	}
	if next != "" && r.Verdict != health.VerdictHealthy {
		fmt.Fprintln(out, output.Wrap("  → every finding and the command that fixes it:", width, "    "))
		fmt.Fprintln(out, output.WrapCommand("    "+next, width, "        "))
	}
	return nil
}

// latency is "-" when /metrics could not be read: unmeasured, not zero.
func latency(s *float64) string {
	if s == nil {
		return "-"
	}
	return humanize.Seconds(*s)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func style(p iostreams.Palette, verdict string) string {
	switch verdict {
	case health.VerdictHealthy:
		return p.Good.Render(verdict)
	case health.VerdictDegraded, health.VerdictUnknown:
		return p.Warn.Render(verdict)
	default:
		return p.Bad.Render(verdict)
	}
}
