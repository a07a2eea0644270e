package output

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

type probe struct {
	Rule string `json:"rule"`
}

func TestJSONIsNotHTMLEscaped(t *testing.T) {
	in := probe{Rule: `fragmentation >= 0.5 && key < "/registry/a&b"`}
	writers := map[string]func(*bytes.Buffer) error{
		"WriteJSON":     func(b *bytes.Buffer) error { return WriteJSON(b, in) },
		"WriteJSONLine": func(b *bytes.Buffer) error { return WriteJSONLine(b, in) },
		"Write(json)":   func(b *bytes.Buffer) error { return Write(b, JSON, in) },
		"Write(yaml)":   func(b *bytes.Buffer) error { return Write(b, YAML, in) },
		"MarshalIndent": func(b *bytes.Buffer) error {
			out, err := MarshalIndent(in)
			b.Write(out)
			return err
		},
		"Marshal": func(b *bytes.Buffer) error {
			out, err := Marshal(in)
			if bytes.ContainsRune(out, '\n') {
				t.Errorf("Marshal wrote a newline: %q", out)
			}
			b.Write(out)
			return err
		},
	}
	for name, write := range writers {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.Contains(b.String(), `\u00`) || !strings.Contains(b.String(), ">= 0.5 &&") || !strings.Contains(b.String(), "a&b") {
			t.Fatalf("%s escaped the value:\n%s", name, b.String())
		}
		if name == "Write(yaml)" {
			continue
		}
		var back probe
		if err := json.Unmarshal(b.Bytes(), &back); err != nil || back != in {
			t.Fatalf("%s does not round-trip: %v %+v", name, err, back)
		}
	}
}

func TestFormatFlag(t *testing.T) {
	var f FormatFlag
	for _, s := range []string{"table", "wide", "json", "yaml", "WIDE"} {
		if err := f.Set(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if f.Value != Wide || f.Value.Machine() {
		t.Fatalf("wide = %q, machine %v", f.Value, f.Value.Machine())
	}
	if err := f.Set("xml"); err == nil || !strings.Contains(err.Error(), "table, wide, json, yaml") {
		t.Fatalf("xml: %v", err)
	}
}

func fitTable(tty bool, width int) *TableWriter {
	t := NewFitTable(&bytes.Buffer{}, tty, width,
		Column{Header: "NAME"}, Column{Header: "ID", Priority: 3}, Column{Header: "ENDPOINT", Priority: 2},
		Column{Header: "SIZE", Priority: 1}, Column{Header: "REASON", Flex: true}, Column{Header: "VERDICT"})
	t.Row("m1", "8e9e05c52164694d", "http://127.0.0.1:23790", "11 MiB", "fragmentation 60.1% of 11 MiB is at least the 50% threshold", "\x1b[32mhealthy\x1b[0m")
	t.Row("m2", "91bc3c398fb3c146", "http://127.0.0.1:23792", "-", "unreachable", "unreachable")
	return t
}

func render(t *testing.T, tw *TableWriter) []string {
	t.Helper()
	var b bytes.Buffer
	tw.w = &b
	if err := tw.Render(); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

func TestTableFitsWidth(t *testing.T) {
	for _, width := range []int{40, 60, 80, 100} {
		for _, tty := range []bool{false, true} {
			lines := render(t, fitTable(tty, width))
			if len(lines) != 3 {
				t.Fatalf("width %d: %d lines:\n%s", width, len(lines), strings.Join(lines, "\n"))
			}
			for _, l := range lines {
				if Cells(l) > width {
					t.Fatalf("width %d tty %v: line of %d cells:\n%s", width, tty, Cells(l), strings.Join(lines, "\n"))
				}
				if strings.ContainsAny(l, "│┌─") || strings.HasSuffix(l, " ") {
					t.Fatalf("width %d: a box or trailing blanks in a narrow table:\n%s", width, strings.Join(lines, "\n"))
				}
			}
			for _, h := range []string{"NAME", "REASON", "VERDICT"} {
				if !strings.Contains(lines[0], h) {
					t.Fatalf("width %d: priority-0 column %s dropped: %q", width, h, lines[0])
				}
			}
		}
	}
	// Highest priority number first; the reason is cut before a column goes.
	for width, want := range map[int]string{
		60:  "NAME,SIZE,REASON,VERDICT",
		80:  "NAME,ENDPOINT,SIZE,REASON,VERDICT",
		120: "NAME,ID,ENDPOINT,SIZE,REASON,VERDICT",
	} {
		if h := fitTable(false, width).Headers(); strings.Join(h, ",") != want {
			t.Fatalf("headers at %d: %v, want %s", width, h, want)
		}
	}
	lines := render(t, fitTable(false, 40))
	if !strings.Contains(lines[1], "…") {
		t.Fatalf("the flex column was not cut at 40:\n%s", strings.Join(lines, "\n"))
	}
}

func TestTableUnlimited(t *testing.T) {
	lines := render(t, fitTable(false, 0))
	for _, h := range []string{"NAME", "ID", "ENDPOINT", "SIZE", "REASON", "VERDICT"} {
		if !strings.Contains(lines[0], h) {
			t.Fatalf("unlimited width lost %s: %q", h, lines[0])
		}
	}
	if !strings.Contains(lines[1], "is at least the 50% threshold") {
		t.Fatalf("unlimited width cut a cell: %q", lines[1])
	}
	// On a terminal wide enough, the box.
	if lines := render(t, fitTable(true, 0)); !strings.Contains(lines[0], "┌") {
		t.Fatalf("no box on an unlimited terminal:\n%s", strings.Join(lines, "\n"))
	}
}

func TestWrap(t *testing.T) {
	text := "free pages count against the quota and make the file larger than the data; defragment to return them"
	got := Wrap(text, 40, "    ")
	for i, l := range strings.Split(got, "\n") {
		if Cells(l) > 40 || (i > 0 && !strings.HasPrefix(l, "    ")) {
			t.Fatalf("line %d %q", i, l)
		}
	}
	if strings.Join(strings.Fields(got), " ") != text {
		t.Fatalf("words changed: %q", got)
	}
	if Wrap(text, 0, "  ") != text {
		t.Fatal("unlimited width wrapped")
	}
}

func TestWrapCommand(t *testing.T) {
	cmd := "etcdmedic defrag --rule 'fragmentation >= 0.50' --endpoints https://10.0.0.11:2379,https://10.0.0.12:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt"
	got := WrapCommand(cmd, 50, "    ")
	lines := strings.Split(got, "\n")
	for i, l := range lines {
		if Cells(l) > 50 && !strings.HasPrefix(strings.TrimSpace(l), "https://") {
			t.Fatalf("line %d of %d cells: %q", i, Cells(l), l)
		}
		if i < len(lines)-1 && !strings.HasSuffix(l, " \\") {
			t.Fatalf("line %d does not continue: %q", i, l)
		}
	}
	if !strings.Contains(got, "'fragmentation >= 0.50'") {
		t.Fatalf("split inside quotes:\n%s", got)
	}
	// What a shell reads: the continuations removed, the same words.
	joined := strings.Join(strings.Fields(strings.ReplaceAll(got, "\\\n", " ")), " ")
	if joined != cmd {
		t.Fatalf("pasted back: %q", joined)
	}
}
