package health

import "testing"

// OnlySilent picks the one dead member out of a refusal whose every cause
// follows from it, and nothing out of any other.
func TestRefusalOnlySilent(t *testing.T) {
	silent := func(m string) Finding {
		return Finding{ID: "status.reachable", Severity: Unknown, Member: m, MemberName: "n" + m}
	}
	read := func(m string) Finding { return Finding{ID: "reads.linearizable", Severity: Unknown, Member: m} }
	margin := Finding{ID: "quorum.margin", Severity: Warn}
	lag := func(m string) Finding { return Finding{ID: "raft.followerLag", Severity: Warn, Member: m} }
	for _, c := range []struct {
		name string
		r    Refusal
		want string
	}{
		{"one silent, its read and the margin", Refusal{Findings: []Finding{silent("a"), read("a"), margin}}, "a"},
		{"one silent alone", Refusal{Findings: []Finding{silent("a")}}, "a"},
		{"two silent", Refusal{Findings: []Finding{silent("a"), silent("b")}}, ""},
		{"one silent and another lagging", Refusal{Findings: []Finding{silent("a"), lag("b")}}, ""},
		{"lagging only", Refusal{Findings: []Finding{lag("b")}}, ""},
		{"too few voters", Refusal{Findings: []Finding{silent("a")}, NoSpareVoter: true}, ""},
	} {
		f, ok := c.r.OnlySilent()
		if got := f.Member; ok != (c.want != "") || got != c.want {
			t.Errorf("%s: OnlySilent = %q, %v; want %q", c.name, got, ok, c.want)
		}
	}
}
