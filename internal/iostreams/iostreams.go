// Package iostreams is the I/O bundle every command runs against: the real
// terminal in production, buffers in tests. Colour decisions live here so that
// no command has to know about NO_COLOR, pipes or --no-color.
package iostreams

import (
	"bytes"
	"io"
	"os"
	"strconv"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"golang.org/x/term"
)

type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdoutTTY    bool
	stderrTTY    bool
	colorEnabled bool

	// width is the terminal's width now (a terminal can be resized while
	// doctor --watch runs); nil or 0 means unlimited.
	width func() int
}

// System binds the process's standard streams. Colour is on only when stdout
// is a terminal, NO_COLOR is unset and TERM is not "dumb".
func System() *IOStreams {
	s := &IOStreams{
		In:        os.Stdin,
		Out:       os.Stdout,
		ErrOut:    os.Stderr,
		stdoutTTY: isTerminal(os.Stdout),
		stderrTTY: isTerminal(os.Stderr),
	}
	s.colorEnabled = s.stdoutTTY && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
	s.width = func() int { return terminalWidth(os.Stdout, s.stdoutTTY, os.Getenv) }
	return s
}

// terminalWidth is stdout's width in cells: the terminal's own when stdout is
// one, else $COLUMNS (a shell exports it for scripts that want narrow output),
// else 0, unlimited: a pipe gets every column, untruncated.
func terminalWidth(f *os.File, tty bool, getenv func(string) string) int {
	if tty {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	return columnsEnv(getenv)
}

func columnsEnv(getenv func(string) string) int {
	if n, err := strconv.Atoi(getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 0
}

// Test returns streams over buffers: no TTY, no colour.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer) {
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: &bytes.Buffer{}, Out: out, ErrOut: errOut}, out, errOut
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }
func (s *IOStreams) IsStderrTTY() bool { return s.stderrTTY }

// Width is the number of cells a line of stdout may take, 0 for unlimited.
// Tables drop low-priority columns to fit it; -o wide sets it to unlimited.
func (s *IOStreams) Width() int {
	if s.width == nil {
		return 0
	}
	return s.width()
}

// SetWidth fixes the width (tests; -o wide sets 0, unlimited).
func (s *IOStreams) SetWidth(cells int) { s.width = func() int { return cells } }

// SetTTY pretends both output streams are terminals (tests of TTY rendering).
func (s *IOStreams) SetTTY(tty bool) { s.stdoutTTY, s.stderrTTY = tty, tty }

func (s *IOStreams) ColorEnabled() bool { return s.colorEnabled }

// SetColorEnabled forces colour on or off (--no-color, -o json, tests).
func (s *IOStreams) SetColorEnabled(on bool) { s.colorEnabled = on }

// Palette returns the styles for status words on stdout. With colour off every
// style renders plain text, so callers never branch on colour themselves.
func (s *IOStreams) Palette() Palette {
	r := lipgloss.NewRenderer(s.Out)
	if s.colorEnabled {
		r.SetColorProfile(termenv.ANSI)
	} else {
		r.SetColorProfile(termenv.Ascii)
	}
	return Palette{
		Good: r.NewStyle().Foreground(lipgloss.Color("2")),
		Warn: r.NewStyle().Foreground(lipgloss.Color("3")),
		Bad:  r.NewStyle().Foreground(lipgloss.Color("1")).Bold(true),
		Dim:  r.NewStyle().Faint(true),
		Bold: r.NewStyle().Bold(true),
	}
}

// Palette uses plain ANSI-16 colours so the user's terminal theme decides the
// shades, and never queries the terminal background (which can hang over ssh).
type Palette struct {
	Good, Warn, Bad, Dim, Bold lipgloss.Style
}
