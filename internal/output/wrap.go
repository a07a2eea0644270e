package output

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// Wrap breaks text into lines of at most width cells (0: one line), at
// blanks where it can; lines after the first start with indent. A terminal
// would break mid-word at its edge; this keeps words and indentation whole.
func Wrap(text string, width int, indent string) string {
	if width <= 0 || ansi.StringWidth(text) <= width {
		return text
	}
	first := ansi.Wrap(text, width, "")
	lines := strings.Split(first, "\n")
	if len(lines) == 1 {
		return first
	}
	rest := ansi.Wrap(strings.Join(lines[1:], " "), width-ansi.StringWidth(indent), "")
	var b strings.Builder
	b.WriteString(lines[0])
	for _, l := range strings.Split(rest, "\n") {
		b.WriteString("\n" + indent + l)
	}
	return b.String()
}

// Cells is the display width of s: ANSI colour codes take no cells, East
// Asian wide runes take two.
func Cells(s string) int { return ansi.StringWidth(s) }
