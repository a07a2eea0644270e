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
		t.Row(sev(p, f.Severity), f.ID, dash(memberLabel(f)), dash(f.Observed), dash(f.Threshold))
	}
	if t.Len() > 0 {
		if err := t.Render(); err != nil {
			return err
		}
		fmt.Fprintln(out)
	}
	for _, f := range attention {
		who := ""
		if l := memberLabel(f); l != "" {
			who = " " + l
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

// memberLabel names the finding's member: its name, else (a member added but
// never started has none) its ID, so two unnamed members never read alike.
func memberLabel(f health.Finding) string {
	if f.MemberName != "" {
		return f.MemberName
	}
	return f.Member
}

// advice keeps a command to run pasteable on a narrow terminal: an advice of
// the form "command   # why" prints why first, then the command broken with
// shell continuations; prose that names commands ("..., remove it: etcdmedic
// member remove ...") wraps at blanks and puts each command on lines of its
// own, broken with continuations: a command wrapped as prose would run its
// first line alone when pasted.
func advice(a string, width int) string {
	if width == 0 || output.Cells("    → "+a) <= width {
		return "    → " + a
	}
	if cmd, why, ok := strings.Cut(a, "   # "); ok && strings.HasPrefix(cmd, "etcd") {
		return output.Wrap("    → "+why+":", width, "      ") + "\n" + output.WrapCommand("      "+cmd, width, "          ")
	}
	var lines []string
	lead := "    → "
	for _, seg := range adviceSegments(a) {
		if seg.command {
			lines = append(lines, output.WrapCommand("      "+seg.text, width, "          "))
			continue
		}
		lines = append(lines, output.Wrap(lead+seg.text, width, "      "))
		lead = "      "
	}
	return strings.Join(lines, "\n")
}

type adviceSegment struct {
	text    string
	command bool
}

// adviceSegments splits prose advice into prose and the etcdmedic commands
// it names. A command starts at "etcdmedic " at the start or after ": ",
// "; " or "(" (not inside quotes, as in "the flags 'etcdmedic member add'
// printed") and ends, outside shell quotes, at ";", ")", two blanks, or the
// end.
func adviceSegments(a string) []adviceSegment {
	var out []adviceSegment
	prose := func(s string) {
		// The separator after a command reads as a stray line start.
		if len(out) > 0 && out[len(out)-1].command {
			s = strings.TrimLeft(s, ";,) ")
		}
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, adviceSegment{text: s})
		}
	}
	for a != "" {
		start := commandStart(a)
		if start < 0 {
			prose(a)
			break
		}
		prose(strings.TrimSuffix(a[:start], "("))
		end := commandEnd(a[start:]) + start
		out = append(out, adviceSegment{text: strings.TrimSpace(a[start:end]), command: true})
		a = a[end:]
	}
	return out
}

func commandStart(a string) int {
	for off := 0; ; {
		i := strings.Index(a[off:], "etcdmedic ")
		if i < 0 {
			return -1
		}
		i += off
		before := a[:i]
		if before == "" || strings.HasSuffix(before, ": ") || strings.HasSuffix(before, "; ") || strings.HasSuffix(before, "(") {
			return i
		}
		off = i + len("etcdmedic ")
	}
}

func commandEnd(cmd string) int {
	quote := rune(0)
	for i, r := range cmd {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == ';' || r == ')':
			return i
		case r == ' ' && strings.HasPrefix(cmd[i:], "  "):
			return i
		}
	}
	return len(cmd)
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
