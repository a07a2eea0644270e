package output

import (
	"io"
	"strings"

	"github.com/charmbracelet/x/ansi"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Column is one column of a table and what it is worth on a narrow terminal.
type Column struct {
	Header string
	// Priority 0 is always shown. When the table is wider than the terminal,
	// the column with the highest Priority goes first (the rightmost of
	// equals), until the table fits or only priority-0 columns are left.
	Priority int
	// Flex columns (free text: reasons, observations) are cut to fit, ending
	// in "…": first to flexMin cells, before any column is dropped, then as
	// far as their header's width once no column is left to drop.
	Flex bool
}

// gap separates plain columns, as kubectl does.
const gap = "   "

// flexMin is how far a flex column is cut before columns are dropped.
const flexMin = 20

// TableWriter collects rows and renders them: light box borders on a
// terminal when every column fits, plain kubectl-like columns otherwise and
// on a pipe (easy to grep and awk, no box-drawing characters, no trailing
// blanks). With a width set, it drops low-priority columns to fit it.
type TableWriter struct {
	w     io.Writer
	tty   bool
	width int
	cols  []Column
	rows  [][]string
}

// NewTable is a table whose columns are all shown, however wide.
func NewTable(w io.Writer, tty bool, header ...string) *TableWriter {
	cols := make([]Column, len(header))
	for i, h := range header {
		cols[i] = Column{Header: h}
	}
	return &TableWriter{w: w, tty: tty, cols: cols}
}

// NewFitTable is a table that fits width cells (0: unlimited), dropping and
// cutting columns as their Column says.
func NewFitTable(w io.Writer, tty bool, width int, cols ...Column) *TableWriter {
	return &TableWriter{w: w, tty: tty, width: width, cols: append([]Column(nil), cols...)}
}

// Row appends one row. The cells are copied: tablewriter keeps the slice it is
// given, so a reused buffer would turn every row into the last one.
func (t *TableWriter) Row(cells ...string) {
	t.rows = append(t.rows, append([]string(nil), cells...))
}

func (t *TableWriter) Len() int { return len(t.rows) }

// Headers are the headers of the columns that would be shown now.
func (t *TableWriter) Headers() []string {
	_, shown, _ := t.layout()
	var out []string
	for _, i := range shown {
		out = append(out, t.cols[i].Header)
	}
	return out
}

func (t *TableWriter) Render() error {
	boxed, shown, widths := t.layout()
	if boxed {
		return t.renderBox()
	}
	var b strings.Builder
	line := func(cells []string) {
		var l strings.Builder
		for k, i := range shown {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			if ansi.StringWidth(c) > widths[i] {
				c = ansi.Truncate(c, widths[i], "…")
			}
			if k > 0 {
				l.WriteString(gap)
			}
			l.WriteString(c)
			l.WriteString(strings.Repeat(" ", widths[i]-ansi.StringWidth(c)))
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteByte('\n')
	}
	header := make([]string, len(t.cols))
	for i, c := range t.cols {
		header[i] = c.Header
	}
	line(header)
	for _, r := range t.rows {
		line(r)
	}
	_, err := io.WriteString(t.w, b.String())
	return err
}

// layout decides the form: a box when on a terminal and everything fits;
// else which columns to show and how wide each may be.
func (t *TableWriter) layout() (boxed bool, shown []int, widths []int) {
	widths = make([]int, len(t.cols))
	for i, c := range t.cols {
		widths[i] = ansi.StringWidth(c.Header)
		for _, r := range t.rows {
			if i < len(r) {
				widths[i] = max(widths[i], ansi.StringWidth(r[i]))
			}
		}
	}
	for i := range t.cols {
		shown = append(shown, i)
	}
	total := func() int {
		n := len(gap) * (len(shown) - 1)
		for _, i := range shown {
			n += widths[i]
		}
		return n
	}
	if t.tty {
		// │ cell │ cell │: a bar and a blank each side per column, one bar more.
		box := 1
		for _, w := range widths {
			box += w + 3
		}
		if t.width == 0 || box <= t.width {
			return true, shown, widths
		}
	}
	if t.width == 0 {
		return false, shown, widths
	}
	// A flex column may be cut to flexMin cells before any column is dropped
	// for it: a reason cut short beats a column lost.
	need := func() int {
		n := total()
		for _, i := range shown {
			if t.cols[i].Flex {
				n -= widths[i] - min(widths[i], max(flexMin, ansi.StringWidth(t.cols[i].Header)))
			}
		}
		return n
	}
	for need() > t.width {
		drop := -1
		for k, i := range shown {
			if p := t.cols[i].Priority; p > 0 && (drop < 0 || p >= t.cols[shown[drop]].Priority) {
				drop = k
			}
		}
		if drop < 0 {
			break
		}
		shown = append(shown[:drop], shown[drop+1:]...)
	}
	// Cut the widest flex column first, down to its header, until it fits.
	for over := total() - t.width; over > 0; over = total() - t.width {
		widest := -1
		for _, i := range shown {
			if t.cols[i].Flex && widths[i] > ansi.StringWidth(t.cols[i].Header) && (widest < 0 || widths[i] > widths[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			break
		}
		widths[widest] = max(ansi.StringWidth(t.cols[widest].Header), widths[widest]-over)
	}
	return false, shown, widths
}

func (t *TableWriter) renderBox() error {
	tbl := tablewriter.NewTable(t.w,
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleLight)})),
	)
	header := make([]any, len(t.cols))
	for i, c := range t.cols {
		header[i] = c.Header
	}
	tbl.Header(header...)
	for _, r := range t.rows {
		if err := tbl.Append(toAny(r)...); err != nil {
			return err
		}
	}
	return tbl.Render()
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
