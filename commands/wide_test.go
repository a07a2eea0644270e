package commands_test

import (
	"context"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
)

// -o wide lifts the terminal's width, so every table shows every column.
func TestOutputWideIsUnlimited(t *testing.T) {
	for format, want := range map[string]int{"table": 80, "wide": 0} {
		ios, _, _ := iostreams.Test()
		ios.SetWidth(80)
		if code := commands.Execute(context.Background(), []string{"version", "-o", format}, ios, func(string) string { return "" }); code != 0 {
			t.Fatalf("-o %s: exit %d", format, code)
		}
		if got := ios.Width(); got != want {
			t.Fatalf("-o %s: width %d, want %d", format, got, want)
		}
	}
}
