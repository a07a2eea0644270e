package breakglass

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	"github.com/etcdmedic/etcdmedic/internal/step"
)

type JournalOptions struct {
	IO     *iostreams.IOStreams
	Format func() output.Format
	Layout LayoutFlags
}

func NewCmdJournal(f *cmdutil.Factory, runF func(context.Context, *JournalOptions) error) *cobra.Command {
	opts := &JournalOptions{IO: f.IOStreams, Format: f.Format}
	cmd := &cobra.Command{
		Use:   "journal",
		Short: "Show what was done, when, by whom, with what result",
		Long: `Print the break-glass journal of this node (or of --root): every manifest move,
break-glass manifest, ramp step, purge and undo, with time, user, host, sha256 and
result. -o json prints the entries as stored.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunJournal(cmd.Context(), opts)
		},
	}
	opts.Layout.register(cmd)
	return cmd
}

// JournalView is the journal as stored, oldest first.
type JournalView struct {
	Journal string     `json:"journal"`
	Entries []bg.Entry `json:"entries"`
	// TornBytes is a last line a crash cut short: not an entry; the next
	// append keeps it aside and cuts it off.
	TornBytes int `json:"tornBytes,omitempty"`
}

func RunJournal(_ context.Context, opts *JournalOptions) error {
	l, j, err := opts.Layout.resolve()
	if err != nil {
		return err
	}
	entries, torn, err := j.Inspect()
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []bg.Entry{}
	}
	if len(torn) > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "warning: the journal's last line is torn (%d bytes, a crash mid-append): not an entry; the next step that appends keeps it in %s.torn-<time> and cuts it off\n", len(torn), l.Rel(j.Path()))
	}
	return step.Render(opts.IO, opts.Format(), &JournalView{Journal: l.Rel(j.Path()), Entries: entries, TornBytes: len(torn)})
}

func (v *JournalView) Table(io *iostreams.IOStreams) error {
	if len(v.Entries) == 0 {
		_, err := fmt.Fprintf(io.Out, "The journal %s is empty.\n", v.Journal)
		return err
	}
	t := output.NewTable(io.Out, io.IsStdoutTTY(), "#", "TIME", "USER", "HOST", "ACTION", "RESULT", "WHAT")
	for _, e := range v.Entries {
		t.Row(fmt.Sprint(e.Seq), e.Time.Local().Format(time.DateTime), e.User, e.Host, e.Action, e.Result, describe(e))
	}
	return t.Render()
}

func describe(e bg.Entry) string {
	short := func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	}
	switch e.Action {
	case bg.ActQuarantine:
		return fmt.Sprintf("%s → %s (sha256 %s)", e.Path, e.To, short(e.SHA256))
	case bg.ActWriteBG:
		return fmt.Sprintf("%s (sha256 %s)", e.Path, short(e.SHA256))
	case bg.ActRamp:
		return fmt.Sprintf("inflight %d/%d %s", e.MaxRequestsInflight, e.MaxMutatingRequestsInflight, e.Detail)
	case bg.ActPurge:
		return fmt.Sprintf("rev %d, %d deleted, %d changed, archive %s %s", e.Revision, e.Deleted, e.Changed, e.Archive, e.Detail)
	case bg.ActUndo:
		return fmt.Sprintf("reverted #%d %s %s", e.Ref, e.Path, e.Detail)
	}
	return e.Detail
}
