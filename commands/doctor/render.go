package doctor

import (
	"fmt"
	"strings"

	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

func render(opts *Options, r *health.Report) error {
	if f := opts.Format(); f.Machine() {
		return output.Write(opts.IO.Out, f, r)
	}
	return renderTable(opts, r)
}

// columns: what was found, where, and what was seen are kept on a narrow
// terminal (cut if they must be); the threshold goes first (-o wide keeps it,
// and the explanation below the table says it in words).
var columns = []output.Column{
	{Header: "SEVERITY"},
	{Header: "CHECK"},
	{Header: "MEMBER"},
	{Header: "OBSERVED", Flex: true},
	{Header: "THRESHOLD", Priority: 1, Flex: true},
}

func renderTable(opts *Options, r *health.Report) error {
	out, p, width := opts.IO.Out, opts.IO.Palette(), opts.IO.Width()
	t := output.NewFitTable(out, opts.IO.IsStdoutTTY(), width, columns...)
	var attention []health.Finding
	for _, f := range r.Findings {
		if f.Severity != health.OK {
			attention = append(attention, f)
		}
		if f.Severity == health.OK && !opts.All {
			continue
		}
		t.Row(sev(p, f.Severity), f.ID, dash(f.MemberName), dash(f.Observed), dash(f.Threshold))
	}
	if t.Len() > 0 {
		if err := t.Render(); err != nil {
			return err
		}
		fmt.Fprintln(out)
	}
	for _, f := range attention {
		who := ""
		if f.MemberName != "" {
			who = " " + f.MemberName
		}
		fmt.Fprintln(out, output.Wrap(fmt.Sprintf("%s %s%s: %s", sev(p, f.Severity), p.Bold.Render(f.ID), who, f.Explanation), width, "    "))
		if f.Advice != "" {
			fmt.Fprintln(out, advice(f.Advice, width))
		}
	}
	if len(attention) > 0 {
		fmt.Fprintln(out)
	}
	fmt.Fprintln(out, output.Wrap(summaryLine(r), width, "  "))
	return nil
}

// advice keeps a command to run pasteable on a narrow terminal: an advice of
// the form "command   # why" prints why first, then the command broken with
// shell continuations; any other advice is prose, wrapped at blanks.
func advice(a string, width int) string {
	cmd, why, ok := strings.Cut(a, "   # ")
	if !ok || width == 0 || output.Cells("    → "+a) <= width || !strings.HasPrefix(cmd, "etcd") {
		return output.Wrap("    → "+a, width, "      ")
	}
	return output.Wrap("    → "+why+":", width, "      ") + "\n" + output.WrapCommand("      "+cmd, width, "          ")
}

func summaryLine(r *health.Report) string {
	c := r.Counts()
	// A node report (--node) judges the machine, not a cluster.
	scope := "cluster " + r.ClusterID
	switch {
	case r.Node:
		scope = "node"
	case r.ClusterID == "":
		scope = "no cluster answered"
	}
	return fmt.Sprintf("doctor: %s — %d crit, %d warn, %d unknown, %d ok (%s, %.1fs, preset %s)",
		strings.ToUpper(r.Severity.String()), c[health.Crit], c[health.Warn], c[health.Unknown], c[health.OK], scope, r.TookSeconds, r.Preset)
}

func sev(p iostreams.Palette, s health.Severity) string {
	switch s {
	case health.OK:
		return p.Good.Render("ok")
	case health.Warn:
		return p.Warn.Render("warn")
	case health.Crit:
		return p.Bad.Render("crit")
	}
	return p.Dim.Render("unknown")
}

// dash is what the table shows for a value that was not measured: "-",
// as every table does, whether the check left it empty or said "n/a".
func dash(s string) string {
	if s == "" || s == "n/a" {
		return "-"
	}
	return s
}
