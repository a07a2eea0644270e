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

func renderTable(opts *Options, r *health.Report) error {
	out, p := opts.IO.Out, opts.IO.Palette()
	t := output.NewTable(out, opts.IO.IsStdoutTTY(), "SEVERITY", "CHECK", "MEMBER", "OBSERVED", "THRESHOLD")
	var attention []health.Finding
	for _, f := range r.Findings {
		if f.Severity != health.OK {
			attention = append(attention, f)
		}
		if f.Severity == health.OK && !opts.All {
			continue
		}
		t.Row(sev(p, f.Severity), f.ID, dash(f.MemberName), f.Observed, dash(f.Threshold))
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
		fmt.Fprintf(out, "%s %s%s: %s\n", sev(p, f.Severity), p.Bold.Render(f.ID), who, f.Explanation)
		if f.Advice != "" {
			fmt.Fprintf(out, "    → %s\n", f.Advice)
		}
	}
	if len(attention) > 0 {
		fmt.Fprintln(out)
	}
	fmt.Fprintln(out, summaryLine(r))
	return nil
}

func summaryLine(r *health.Report) string {
	c := r.Counts()
	return fmt.Sprintf("doctor: %s — %d crit, %d warn, %d unknown, %d ok (cluster %s, %.1fs, preset %s)",
		strings.ToUpper(r.Severity.String()), c[health.Crit], c[health.Warn], c[health.Unknown], c[health.OK], r.ClusterID, r.TookSeconds, r.Preset)
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

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
