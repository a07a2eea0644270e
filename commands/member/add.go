package member

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/step"
	"github.com/etcdmedic/etcdmedic/member"
)

type AddOptions struct {
	common
	Name     string
	PeerURLs []string
	// Manifest is the kubeadm etcd manifest of this node: when it exists,
	// the result carries the diff for a copy of it on the new node.
	Manifest func() string
	Yes      bool
	DryRun   bool
}

func NewCmdAdd(f *cmdutil.Factory, runF func(context.Context, *AddOptions) error) *cobra.Command {
	opts := &AddOptions{common: commonOf(f), Manifest: func() string { return f.Global.Manifest }}
	cmd := &cobra.Command{
		Use:   "add NAME --peer-urls URL[,URL]",
		Short: "Add a member as a learner, gated, and print exactly how it must start",
		Long: `Add a member, always as a learner: it receives the log but does not vote, so a member
that never starts costs the cluster no quorum. Then promote it once it is in sync
('etcdmedic member promote NAME --wait 10m').

The gate first: every voter answers, serves a linearizable read and is caught up, one
leader, no alarm, and no other learner or unstarted member (etcd allows one learner).
etcd then refuses an add while any voter has been connected to the others for less
than 5 s (a member just restarted, a cluster just started: "unhealthy cluster"); the
add says so and tries again for up to 15 s.

The result is how the new member must start: --name, --initial-cluster (the existing
members and the new one, in etcd's format), --initial-cluster-state=existing and
--initial-advertise-peer-urls; with -o json as fields. It also needs its own listen and
advertise URLs and an empty data dir. On a kubeadm node (the --manifest exists), the
diff to apply to a copy of this node's etcd manifest for the new node is printed too.

Exit codes: 0 added (or --dry-run); 4 refused by the gate or by etcd, or not confirmed;
64 bad input (a taken name, a malformed peer URL or one a member uses): nothing changed.`,
		Example: `  etcdmedic member add cp-4 --peer-urls https://10.0.0.14:2380 --yes
  etcdmedic member add cp-4 --peer-urls https://10.0.0.14:2380 --dry-run -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if err := member.ValidateNew(opts.Name, opts.PeerURLs); err != nil {
				return cmdutil.UsageError(err)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunAdd(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringSliceVar(&opts.PeerURLs, "peer-urls", nil, "the new member's peer URLs, comma-separated (http(s)://host:port)")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "add without asking")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "judge the gate and print the start flags; change nothing")
	return cmd
}

// AddResult is what add prints. Its JSON form is a contract.
type AddResult struct {
	// Added is false for a plan (dry run, not confirmed).
	Added     bool              `json:"added"`
	ID        string            `json:"id,omitempty"`
	Name      string            `json:"name"`
	PeerURLs  []string          `json:"peerURLs"`
	IsLearner bool              `json:"isLearner"`
	Start     member.StartFlags `json:"start"`
	// Manifest and ManifestDiff: this node's kubeadm manifest and what to
	// change in a copy of it for the new node.
	Manifest     string `json:"manifest,omitempty"`
	ManifestDiff string `json:"manifestDiff,omitempty"`
	Next         string `json:"next"`
}

func (r *AddResult) Table(io *iostreams.IOStreams) error {
	out := io.Out
	if r.Added {
		fmt.Fprintf(out, "added %s (%s) as a learner. Start it with an empty data dir and these flags:\n", r.Name, r.ID)
	} else {
		fmt.Fprintf(out, "would add %s as a learner; it would start with an empty data dir and these flags:\n", r.Name)
	}
	for _, f := range r.Start.Flags {
		fmt.Fprintf(out, "  %s\n", f)
	}
	fmt.Fprintln(out, "  (plus its own --listen-peer-urls, --listen-client-urls and --advertise-client-urls)")
	if r.ManifestDiff != "" {
		fmt.Fprintf(out, "\nOn the new node, apply this to a copy of %s:\n%s", r.Manifest, r.ManifestDiff)
	}
	_, err := fmt.Fprintf(out, "\nOnce it runs: %s\n", r.Next)
	return err
}

func RunAdd(ctx context.Context, opts *AddOptions) error {
	c, err := opts.OpenCluster()
	if err != nil {
		return err
	}
	defer c.Close()
	t, _ := health.Preset(health.DefaultPreset)
	ao := member.AddOptions{Name: opts.Name, PeerURLs: opts.PeerURLs, Thresholds: t, Retry: 15 * time.Second,
		OnRefused: func(reason string) { fmt.Fprintln(opts.IO.ErrOut, "member add: "+reason) }}
	result := func(id string, start member.StartFlags) *AddResult {
		// By ID: the name appears in the member list only once it has started.
		ref := id
		if ref == "" {
			ref = opts.Name
		}
		r := &AddResult{Added: id != "", ID: id, Name: opts.Name, PeerURLs: opts.PeerURLs, IsLearner: true, Start: start,
			Next: opts.command("member", "promote", ref, "--wait", "10m")}
		if p := opts.Manifest(); p != "" {
			if _, err := os.Stat(p); err == nil {
				if d, err := member.ManifestDiff(p, start, opts.PeerURLs); err == nil {
					r.Manifest, r.ManifestDiff = p, d
				}
			}
		}
		return r
	}
	_, err = step.Run(ctx, step.Options{IO: opts.IO, Format: opts.Format(), Yes: opts.Yes, DryRun: opts.DryRun}, step.Step[*AddResult]{
		Plan: func(ctx context.Context) (step.Plan[*AddResult], error) {
			ms, g, err := member.PlanAdd(ctx, c, ao)
			if err != nil {
				return step.Plan[*AddResult]{}, err
			}
			if err := g.Err("add " + opts.Name); err != nil {
				return step.Plan[*AddResult]{}, suggestReplace(err, g.Refusal, opts)
			}
			return step.Plan[*AddResult]{
				Changes:  []step.Change{{Action: "add", Target: opts.Name, Line: fmt.Sprintf("add %s (%s) as a learner", opts.Name, strings.Join(opts.PeerURLs, ","))}},
				Question: fmt.Sprintf("Add %s as a learner?", opts.Name),
				Preview:  result("", member.PlannedStartFlags(ms, opts.Name, opts.PeerURLs)),
			}, nil
		},
		Apply: func(ctx context.Context) (*AddResult, error) {
			a, err := member.Add(ctx, c, ao)
			if err != nil {
				return nil, err
			}
			return result(a.Member.IDString(), a.Start), nil
		},
	})
	return err
}

// suggestReplace: etcd refuses to add even a learner while a voter is down,
// so an add refused for one dead voter is, if that voter is gone for good,
// a replacement of it, which removes it first.
func suggestReplace(err error, r *health.Refusal, opts *AddOptions) error {
	f, ok := r.OnlySilent()
	if !ok {
		return err
	}
	old := f.MemberName
	if old == "" {
		old = f.Member
	}
	return cmdutil.Suggest(err, fmt.Sprintf("if %s is gone for good, put %s in its place (%s is removed first, then %s added): %s",
		old, opts.Name, old, opts.Name, opts.command("member", "replace", old, "--name", opts.Name, "--peer-urls", strings.Join(opts.PeerURLs, ","))))
}
