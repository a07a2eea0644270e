// Package iostreams is the I/O bundle every command runs against: the real
// terminal in production, buffers in tests. Colour decisions live here so that
// no command has to know about NO_COLOR, pipes or --no-color.
package iostreams

import (
	"bytes"
	"io"
	"os"

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
	return s
}

// Test returns streams over buffers: no TTY, no colour.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer) {
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: &bytes.Buffer{}, Out: out, ErrOut: errOut}, out, errOut
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }
func (s *IOStreams) IsStderrTTY() bool { return s.stderrTTY }

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
