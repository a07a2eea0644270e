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
	// The wrapper breaks after any hyphen; a flag name cut as "--dial-" /
	// "timeout" reads (and pastes) wrong, so hyphens ride through it as a
	// non-breaking hyphen of the same width.
	if strings.Contains(text, "-") && !strings.ContainsRune(text, nbHyphen) {
		return strings.ReplaceAll(Wrap(strings.ReplaceAll(text, "-", string(nbHyphen)), width, indent), string(nbHyphen), "-")
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

const nbHyphen = '\u2011'

// Cells is the display width of s: ANSI colour codes take no cells, East
// Asian wide runes take two.
func Cells(s string) int { return ansi.StringWidth(s) }

// WrapCommand breaks a shell command into lines of at most width cells that
// still paste as one command: each break is a blank outside quotes, each
// line but the last ends in " \", and continuation lines start with indent.
// Leading blanks are kept; a single word longer than the width stays whole.
func WrapCommand(cmd string, width int, indent string) string {
	if width <= 0 || ansi.StringWidth(cmd) <= width {
		return cmd
	}
	rest := strings.TrimLeft(cmd, " ")
	lead := cmd[:len(cmd)-len(rest)]
	var words []string
	var cur strings.Builder
	quote := rune(0)
	for _, r := range rest {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == ' ':
			if cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteRune(r)
	}
	if cur.Len() > 0 {
		words = append(words, cur.String())
	}
	var b strings.Builder
	line := ""
	for _, w := range words {
		switch {
		case line == "":
			line = lead + w
		case ansi.StringWidth(line)+1+ansi.StringWidth(w)+2 > width:
			b.WriteString(line + " \\\n")
			line = indent + w
		default:
			line += " " + w
		}
	}
	b.WriteString(line)
	return b.String()
}
