package defrag

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/etcdmedic/etcdmedic/defrag"
	"github.com/etcdmedic/etcdmedic/internal/humanize"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

// printer renders events: JSON lines for machines; for people, one line per
// step, a live elapsed-vs-predicted line per member on a terminal, and a
// summary table.
type printer struct {
	io     *iostreams.IOStreams
	format output.Format
	rule   string // the rule's source, for short reasons
	// doctor is the next step of a run the cluster's state stopped:
	// doctor with this run's connection flags.
	doctor string
	// refusal is the failed gate's reason as printed, so the closing line
	// points at it instead of printing it again.
	refusal string
	mu      sync.Mutex
	stop    chan struct{}
	wg      sync.WaitGroup
}

// planColumns: who, whether, how much; the order is the rows' order, and
// the predicted stall and role are in the reason's neighbourhood anyway.
var planColumns = []output.Column{
	{Header: "ORDER", Priority: 4},
	{Header: "MEMBER"},
	{Header: "ROLE", Priority: 2},
	{Header: "DEFRAG"},
	{Header: "DB SIZE", Priority: 1},
	{Header: "RECLAIMABLE", Priority: 1},
	{Header: "PREDICTED STALL", Priority: 3},
	{Header: "REASON", Flex: true},
}

var summaryColumns = []output.Column{
	{Header: "MEMBER"},
	{Header: "OUTCOME"},
	{Header: "BEFORE", Priority: 1},
	{Header: "AFTER", Priority: 1},
	{Header: "TOOK", Priority: 2},
	{Header: "REASON", Flex: true},
}

func (p *printer) event(e defrag.Event) {
	if p.format.Machine() {
		p.mu.Lock()
		defer p.mu.Unlock()
		_ = output.WriteJSONLine(p.io.Out, e)
		return
	}
	if e.Event != defrag.EventMemberStart {
		p.stopProgress()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out, pal, width := p.io.Out, p.io.Palette(), p.io.Width()
	line := func(s string) { fmt.Fprintln(out, output.Wrap(s, width, "  ")) }
	mark := pal.Good.Render("✓")
	if !e.OK {
		mark = pal.Bad.Render("✗")
	}
	switch e.Event {
	case defrag.EventPlan:
		line(fmt.Sprintf("%s (%s)", pal.Bold.Render("plan"), e.Message))
		t := output.NewFitTable(out, p.io.IsStdoutTTY(), width, planColumns...)
		for i, pe := range e.Plan {
			size, free, stall := "-", "-", "-"
			if pe.DBSize > 0 { // else nothing was measured: no status
				size, free = humanize.Bytes(pe.DBSize), humanize.Bytes(pe.ReclaimableBytes)
				stall = humanize.Duration(seconds(pe.PredictedSeconds))
			}
			t.Row(fmt.Sprint(i+1), pe.MemberName, pe.Role, yesNo(pe.Defragment), size, free, stall, p.reason(pe.Reason, width))
		}
		_ = t.Render()
		line(grpcHealthNote(e.Plan))
	case defrag.EventMemberStart:
		line(fmt.Sprintf("→ defragmenting %s (%s, predicted %.1fs)", e.MemberName, humanize.Bytes(e.DBSizeBefore), e.PredictedSeconds))
		if p.io.IsStderrTTY() {
			p.startProgress(e)
		}
	case defrag.EventMemberDone:
		if e.OK {
			line(fmt.Sprintf("%s %s: %s → %s in %s (StopGRPCServiceOnDefrag: %s)", mark, e.MemberName, humanize.Bytes(e.DBSizeBefore), humanize.Bytes(e.DBSizeAfter),
				humanize.Duration(seconds(e.DurationSeconds)), e.StopGRPCServiceOnDefrag))
		} else {
			line(fmt.Sprintf("%s %s: %s", mark, e.MemberName, e.Message))
		}
	case defrag.EventSummary:
		s := e.Summary
		if !s.DryRun && len(s.Members) > 0 {
			fmt.Fprintln(out)
			t := output.NewFitTable(out, p.io.IsStdoutTTY(), width, summaryColumns...)
			for _, m := range s.Members {
				before, after, took := "-", "-", "-"
				if m.DBSizeBefore > 0 {
					before = humanize.Bytes(m.DBSizeBefore)
				}
				if m.DBSizeAfter > 0 {
					after = humanize.Bytes(m.DBSizeAfter)
				}
				if m.DurationSeconds > 0 || m.Outcome == "defragmented" {
					took = humanize.Duration(seconds(m.DurationSeconds))
				}
				t.Row(m.MemberName, m.Outcome, before, after, took, p.reason(m.Reason, width))
			}
			_ = t.Render()
		}
		verdict, stoppedBy := "done", s.StoppedBy
		if p.refusal != "" {
			if cause, ok := strings.CutSuffix(stoppedBy, ": "+p.refusal); ok {
				stoppedBy = cause + " (above)"
			}
		}
		switch {
		case s.DryRun && s.StoppedBy != "":
			verdict = "dry run, nothing changed: " + stoppedBy
		case s.DryRun:
			verdict = "dry run: nothing changed"
		case !e.OK:
			verdict = "stopped: " + stoppedBy
		case s.Defragmented == 0:
			verdict = "nothing to do"
		}
		fmt.Fprintln(out)
		if s.DryRun {
			// Nothing was defragmented or reclaimed: no counts that read as results.
			line(fmt.Sprintf("%s %s (%s)", mark, verdict, humanize.Duration(seconds(s.TookSeconds))))
		} else {
			line(fmt.Sprintf("%s %s — %d defragmented, %s reclaimed in %s", mark, verdict, s.Defragmented, humanize.Bytes(s.ReclaimedBytes), humanize.Duration(seconds(s.TookSeconds))))
		}
		if s.StoppedOnHealth && p.doctor != "" {
			fmt.Fprintln(out, output.Wrap("  → every finding and the command that fixes it:", width, "    "))
			fmt.Fprintln(out, output.WrapCommand("    "+p.doctor, width, "        "))
		}
	default:
		if e.Event == defrag.EventGate && !e.OK {
			p.refusal = e.Message
		}
		name := e.MemberName
		if name != "" {
			name = " " + name
		}
		line(fmt.Sprintf("%s %s%s: %s", mark, e.Event, name, e.Message))
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// reason is the plan's full reason where there is room (a pipe, -o wide),
// and a few words on a terminal of limited width.
func (p *printer) reason(full string, width int) string {
	if width == 0 {
		return full
	}
	return shortReason(full, p.rule)
}

// comparison finds the rule's simple comparisons: a variable (or the
// mixin's in-use ratio) against a number or a product of numbers.
// Compiled on first use: a package-level regexp is compiled at start-up by
// every command, which this one is not.
var comparison = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(dbSizeInUse\s*/\s*dbSize|dbSizeInUse|dbSizeFree|dbSize|dbQuotaUsage|dbQuota|fragmentation)\s*(>=|<=|>|<)\s*([0-9.]+(?:\s*\*\s*[0-9.]+)*)`)
})

// shortReason says in a few words why a member is or is not defragmented:
// the rule's own comparisons with this member's values ("frag 59.5% ≥ 50%"),
// else its fragmentation; reasons that are not the rule's keep their first
// words.
func shortReason(full, rule string) string {
	vars, ok := ruleVars(full)
	if !ok {
		if head, _, found := strings.Cut(full, ": "); found && strings.HasPrefix(full, "learners") {
			return head
		}
		return strings.Replace(full, "no status now: ", "no status: ", 1)
	}
	var parts []string
	for _, m := range comparison().FindAllStringSubmatch(rule, 3) {
		threshold, ok := product(m[3])
		if !ok {
			continue
		}
		v, label, ratio := vars[m[1]], m[1], false
		switch {
		case strings.Contains(m[1], "/"):
			v, label, ratio = 0, "in use", true
			if vars["dbSize"] > 0 {
				v = vars["dbSizeInUse"] / vars["dbSize"]
			}
		case m[1] == "fragmentation":
			label, ratio = "frag", true
		case m[1] == "dbQuotaUsage":
			label, ratio = "quota", true
		case m[1] == "dbSizeInUse":
			label = "in use"
		case m[1] == "dbSizeFree":
			label = "free"
		case m[1] == "dbSize":
			label = "db"
		case m[1] == "dbQuota":
			label = "quota"
		}
		show := func(x float64) string {
			if ratio {
				return strconv.FormatFloat(x*100, 'f', -1, 64) + "%"
			}
			return humanize.Bytes(int64(x))
		}
		value := humanize.Percent(v)
		if !ratio {
			value = humanize.Bytes(int64(v))
		}
		parts = append(parts, label+" "+value+" "+relation(m[2], v, threshold)+" "+show(threshold))
	}
	if len(parts) == 0 {
		return "frag " + humanize.Percent(vars["fragmentation"])
	}
	return strings.Join(parts, ", ")
}

// ruleVars reads back the variables of a "rule true: k=v ..." reason.
func ruleVars(reason string) (map[string]float64, bool) {
	_, rest, ok := strings.Cut(reason, "rule true: ")
	if !ok {
		if _, rest, ok = strings.Cut(reason, "rule false: "); !ok {
			return nil, false
		}
	}
	vars := map[string]float64{}
	for _, kv := range strings.Fields(rest) {
		k, v, _ := strings.Cut(kv, "=")
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			vars[k] = f
		}
	}
	return vars, true
}

func product(s string) (float64, bool) {
	p := 1.0
	for _, f := range strings.Split(s, "*") {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return 0, false
		}
		p *= x
	}
	return p, true
}

// relation is the operator that holds between this member's value and the
// threshold: the rule's own when it holds, its negation when not.
func relation(op string, v, t float64) string {
	holds := map[string]bool{">=": v >= t, ">": v > t, "<=": v <= t, "<": v < t}[op]
	sym := map[string][2]string{">=": {"≥", "<"}, ">": {">", "≤"}, "<=": {"≤", ">"}, "<": {"<", "≥"}}[op]
	if holds {
		return sym[0]
	}
	return sym[1]
}

// grpcHealthNote says whether clients can route around a defragmenting
// member: only etcd's StopGRPCServiceOnDefrag (3.6+) makes it report
// NOT_SERVING on gRPC health; otherwise every client of that member waits.
func grpcHealthNote(plan []defrag.PlanEntry) string {
	var on, off []string
	for _, p := range plan {
		switch p.StopGRPCServiceOnDefrag {
		case defrag.GRPCHealthOn:
			on = append(on, p.MemberName)
		case defrag.GRPCHealthOff:
			off = append(off, p.MemberName)
		}
	}
	switch {
	case len(on) > 0:
		return "StopGRPCServiceOnDefrag on for " + strings.Join(on, ", ") + " (kubeadm manifest): clients that health-check route around the member while it defragments"
	case len(off) > 0:
		return "StopGRPCServiceOnDefrag off for " + strings.Join(off, ", ") + " (kubeadm manifest): that member's clients wait out its stall; etcd 3.6+ --feature-gates=StopGRPCServiceOnDefrag=true lets health-checking clients route around it"
	}
	return "StopGRPCServiceOnDefrag: unknown (no kubeadm manifest read); each member's is observed on its gRPC health service while it defragments and reported when done"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// startProgress shows elapsed against predicted time on stderr while one member runs.
func (p *printer) startProgress(e defrag.Event) {
	p.stop = make(chan struct{})
	p.wg.Add(1)
	start := time.Now()
	go func(stop chan struct{}) {
		defer p.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				fmt.Fprint(p.io.ErrOut, "\r\x1b[K")
				return
			case <-t.C:
				fmt.Fprintf(p.io.ErrOut, "\r  %s: %.1fs elapsed (predicted %.1fs)", e.MemberName, time.Since(start).Seconds(), e.PredictedSeconds)
			}
		}
	}(p.stop)
}

func (p *printer) stopProgress() {
	p.mu.Lock()
	stop := p.stop
	p.stop = nil
	p.mu.Unlock()
	if stop != nil {
		close(stop)
		p.wg.Wait()
	}
}
