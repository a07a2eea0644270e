package breakglass

import (
	"fmt"
	"time"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/internal/humanize"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
)

// rampProgress shows a running ramp on stderr: one line per step written and
// per result; while a step waits, a countdown redrawn in place on a terminal,
// or a line every tick into a log, so a 5-minute interval is visibly alive.
type rampProgress struct {
	io       *iostreams.IOStreams
	redrawn  bool
	interval time.Duration
}

func newRampProgress(io *iostreams.IOStreams) *rampProgress { return &rampProgress{io: io} }

func (p *rampProgress) tick(asked time.Duration) time.Duration {
	switch {
	case asked > 0:
		return asked
	case p.io.IsStderrTTY():
		return 2 * time.Second
	}
	return 30 * time.Second
}

func (p *rampProgress) report(r bg.RampProgress) {
	head := fmt.Sprintf("step %d/%d: inflight %d/%d", r.Step, r.Steps, r.Limits.MaxRequestsInflight, r.Limits.MaxMutatingRequestsInflight)
	var line string
	switch r.Stage {
	case "written":
		p.interval = r.Left
		line = fmt.Sprintf("%s written; checking etcd and /readyz in %s", head, humanize.Duration(r.Left))
	case "waiting":
		line = fmt.Sprintf("%s: %s of %s left before the check", head, humanize.Duration(r.Left), humanize.Duration(p.interval))
		if p.io.IsStderrTTY() {
			fmt.Fprintf(p.io.ErrOut, "\r\033[K%s", line)
			p.redrawn = true
			return
		}
	default:
		line = fmt.Sprintf("%s: %s", head, r.Stage)
		if r.Limits.Detail != "" {
			line += ": " + r.Limits.Detail
		}
	}
	p.done()
	fmt.Fprintln(p.io.ErrOut, line)
}

func (p *rampProgress) done() {
	if p.redrawn {
		fmt.Fprint(p.io.ErrOut, "\r\033[K")
		p.redrawn = false
	}
}
