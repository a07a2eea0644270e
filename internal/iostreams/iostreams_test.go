package iostreams

import (
	"os"
	"testing"
)

func TestWidth(t *testing.T) {
	env := func(v string) func(string) string { return func(string) string { return v } }
	for v, want := range map[string]int{"": 0, "80": 80, "132": 132, "0": 0, "-5": 0, "wide": 0} {
		// Not a terminal: $COLUMNS, else unlimited.
		if got := terminalWidth(os.Stdout, false, env(v)); got != want {
			t.Errorf("COLUMNS=%q: width %d, want %d", v, got, want)
		}
	}
	s, _, _ := Test()
	if s.Width() != 0 {
		t.Fatalf("test streams are %d wide, want unlimited", s.Width())
	}
	s.SetWidth(80)
	if s.Width() != 80 {
		t.Fatalf("SetWidth(80): %d", s.Width())
	}
}
