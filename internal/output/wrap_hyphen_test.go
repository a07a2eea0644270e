package output

import (
	"strings"
	"testing"
)

// A flag name is never cut at its hyphen.
func TestWrapKeepsHyphenatedWordsWhole(t *testing.T) {
	text := "unreachable: accepted the connection but did not answer within --dial-timeout 2s (member hung)"
	for width := 20; width <= 100; width++ {
		got := Wrap(text, width, "    ")
		for _, line := range strings.Split(got, "\n") {
			if strings.HasSuffix(line, "-") || strings.HasPrefix(strings.TrimSpace(line), "timeout") {
				t.Fatalf("width %d cut a hyphenated word:\n%s", width, got)
			}
		}
		if strings.Join(strings.Fields(got), " ") != text {
			t.Fatalf("width %d changed the text:\n%s", width, got)
		}
	}
}
