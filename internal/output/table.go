package output

import (
	"io"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// TableWriter collects rows and renders them with tablewriter: light box
// borders on a terminal, plain kubectl-like columns on a pipe (easy to grep
// and awk, no box-drawing characters).
type TableWriter struct {
	w      io.Writer
	tty    bool
	header []string
	rows   [][]string
}

func NewTable(w io.Writer, tty bool, header ...string) *TableWriter {
	return &TableWriter{w: w, tty: tty, header: header}
}

// Row appends one row. The cells are copied: tablewriter keeps the slice it is
// given, so a reused buffer would turn every row into the last one.
func (t *TableWriter) Row(cells ...string) {
	t.rows = append(t.rows, append([]string(nil), cells...))
}

func (t *TableWriter) Len() int { return len(t.rows) }

func (t *TableWriter) Render() error {
	opts := []tablewriter.Option{
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
	}
	if t.tty {
		opts = append(opts, tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Symbols: tw.NewSymbols(tw.StyleLight),
		})))
	} else {
		opts = append(opts,
			tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
				Borders:  tw.BorderNone,
				Symbols:  tw.NewSymbols(tw.StyleNone),
				Settings: tw.Settings{Separators: tw.SeparatorsNone, Lines: tw.LinesNone},
			})),
			tablewriter.WithPadding(tw.Padding{Left: "", Right: "   ", Overwrite: true}),
			tablewriter.WithTrimSpace(tw.Off),
		)
	}
	tbl := tablewriter.NewTable(t.w, opts...)
	tbl.Header(toAny(t.header)...)
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
