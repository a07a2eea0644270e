package step

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// ErrNotConfirmed is a step that was neither confirmed nor asked for as a
// dry run: nothing changed, and a script must not go on as if it had.
var ErrNotConfirmed = fault.Mark(fmt.Errorf("not confirmed: nothing changed; re-run with --yes to do it, or --dry-run to only show the plan"), fault.Refused)

// ErrAborted is a "no" (or anything but "y") typed at the prompt.
var ErrAborted = fault.Mark(fmt.Errorf("aborted: nothing changed"), fault.Refused)

// Confirm applies the policy: --dry-run shows the plan only (nil: the dry
// run is what was asked); --yes goes ahead; on a terminal (stdin and stderr)
// the question is asked; anything else is ErrNotConfirmed.
func Confirm(o Options, question string) error {
	switch {
	case o.DryRun:
		fmt.Fprintln(o.IO.ErrOut, "Dry run: nothing changed.")
		return nil
	case o.Yes:
		return nil
	}
	f, ok := o.IO.In.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || !o.IO.IsStderrTTY() {
		return ErrNotConfirmed
	}
	fmt.Fprintf(o.IO.ErrOut, "%s [y/N] ", question)
	line, _ := bufio.NewReader(o.IO.In).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return ErrAborted
}
