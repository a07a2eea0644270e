package member

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/step"
	"github.com/etcdmedic/etcdmedic/member"
)

// DefaultStateDir holds replacement journals unless --state-file says otherwise.
const DefaultStateDir = "/var/lib/etcdmedic/member"

type ReplaceOptions struct {
	common
	Old          string
	Name         string
	PeerURLs     []string
	StateFile    string
	Wait         time.Duration
	AgreeTimeout time.Duration
	KeepOld      bool
	Yes          bool
	DryRun       bool
}

// NewReplaceOptions holds the defaults the flags show.
func NewReplaceOptions() *ReplaceOptions {
	return &ReplaceOptions{Wait: 30 * time.Minute, AgreeTimeout: time.Minute}
}

func NewCmdReplace(f *cmdutil.Factory, runF func(context.Context, *ReplaceOptions) error) *cobra.Command {
	opts := NewReplaceOptions()
	opts.common = commonOf(f)
	cmd := &cobra.Command{
		Use:   "replace OLD --name NEW --peer-urls URL",
		Short: "Replace one member by a new one: add as learner, wait, promote, move leadership, remove, verify",
		Long: `The one-at-a-time resize: gate → add NEW as a learner → print how to start it and wait
(up to --wait) until it has started and caught up → promote it → move leadership off OLD
if it leads → ask for OLD to be stopped and wait (up to --wait) until it no longer answers
→ remove OLD → final gate (every voter healthy) and HashKV of every voter.

OLD is stopped before it is removed because a stopping etcd drains its gRPC server
(requests in flight finish, clients move to other members), whereas a member removed
while serving stops itself a second later and fails what it was still serving.
--keep-old-running skips that wait: OLD is removed while running.

An OLD that does not answer as the replacement begins (dead, or its disk gone) is removed
first, then NEW is added, started and promoted: etcd refuses to add even a learner while a
voter is down, and removing a member that does not answer costs no quorum margin. The
plan says so, and the journal keeps that order when the run is resumed. That is also how a
node rebuilt in place rejoins: NEW may take OLD's name and peer URL once OLD is stopped
(while OLD answers, that is refused: etcd cannot list both).

On a kubeadm control plane, 'kubeadm join --control-plane' adds and promotes the new node's
etcd member itself: there, remove the dead member ('etcdmedic member remove') and join the
node with kubeadm, rather than add it here first.

Every step is journaled in the state file (default ` + DefaultStateDir + `/replace-NEW.json,
written atomically) before the next begins. A run that stops anywhere — SIGTERM, a gate
that refuses, NEW not starting in time — is resumed by running the same command again:
what is done is never repeated. The journal says where a run stopped and why.

--dry-run prints the steps (done, next, pending) and the verdict of the gate the next
step needs, and changes nothing.

Exit codes: 0 replaced (or --dry-run with the gate holding); 2 a step failed or was
interrupted; 4 refused by a gate (the cluster is left with a consistent membership: at
most a learner was added, or a dead OLD removed) or not confirmed; 64 bad input (unknown
OLD, a taken name, a malformed or used peer URL, a state file of another replacement).`,
		Example: `  etcdmedic member replace cp-1 --name cp-1b --peer-urls https://10.0.0.21:2380 --dry-run
  etcdmedic member replace cp-1 --name cp-1b --peer-urls https://10.0.0.21:2380 --yes`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: opts.completeMembers(anyMember),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Old = args[0]
			if err := member.ValidateNew(opts.Name, opts.PeerURLs); err != nil {
				return cmdutil.UsageError(err)
			}
			if opts.Wait <= 0 || opts.AgreeTimeout <= 0 {
				return cmdutil.UsageError(fmt.Errorf("--wait and --agree-timeout must be positive"))
			}
			if opts.StateFile == "" {
				opts.StateFile = filepath.Join(DefaultStateDir, "replace-"+opts.Name+".json")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return RunReplace(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Name, "name", "", "the new member's name")
	fl.StringSliceVar(&opts.PeerURLs, "peer-urls", nil, "the new member's peer URLs, comma-separated")
	fl.StringVar(&opts.StateFile, "state-file", "", "the journal that makes the run resumable (default "+DefaultStateDir+"/replace-NEW.json)")
	fl.DurationVar(&opts.Wait, "wait", opts.Wait, "how long NEW may take to start and catch up")
	fl.DurationVar(&opts.AgreeTimeout, "agree-timeout", opts.AgreeTimeout, "time for each verification (voters listing NEW, leader agreement, OLD gone)")
	fl.BoolVar(&opts.KeepOld, "keep-old-running", false, "remove OLD while it still serves instead of waiting for it to be stopped (requests in flight on it then fail)")
	fl.BoolVarP(&opts.Yes, "yes", "y", false, "replace without asking")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "print the steps and the gate verdict; change nothing")
	return cmd
}

// ReplaceResult is what replace prints. Its JSON form is a contract.
type ReplaceResult struct {
	Old       string `json:"old"`
	OldName   string `json:"oldName"`
	Name      string `json:"name"`
	NewID     string `json:"newId,omitempty"`
	StateFile string `json:"stateFile"`
	Complete  bool   `json:"complete"`
	// OldDown: OLD did not answer as the replacement began, so it is
	// removed before NEW is added.
	OldDown   bool               `json:"oldDown,omitempty"`
	Steps     []StepState        `json:"steps"`
	Gate      *GateVerdict       `json:"gate,omitempty"`
	Start     *member.StartFlags `json:"start,omitempty"`
	Waiting   string             `json:"waiting,omitempty"`
	StoppedAt string             `json:"stoppedAt,omitempty"`
	Reason    string             `json:"reason,omitempty"`
}

// StepState is one step of the replacement: done, next or pending.
type StepState struct {
	Step  string `json:"step"`
	State string `json:"state"`
}

// GateVerdict is the gate the next step needs, judged now.
type GateVerdict struct {
	Gate   string `json:"gate"`
	Holds  bool   `json:"holds"`
	Reason string `json:"reason,omitempty"`
}

func resultOf(j *member.Journal) *ReplaceResult {
	r := &ReplaceResult{Old: j.Old, OldName: j.OldName, Name: j.Name, NewID: j.NewID, StateFile: j.Path(), Complete: j.Complete(),
		Start: j.Start, Waiting: j.Waiting, StoppedAt: j.StoppedAt, Reason: j.Reason, OldDown: j.OldDown}
	next := j.Next()
	for _, s := range j.Steps() {
		st := "pending"
		switch {
		case j.IsDone(s):
			st = "done"
		case s == next:
			st = "next"
		}
		r.Steps = append(r.Steps, StepState{Step: s, State: st})
	}
	return r
}

func (r *ReplaceResult) Table(io *iostreams.IOStreams) error {
	out := io.Out
	fmt.Fprintf(out, "replace %s by %s (journal %s)\n", label(r.OldName, r.Old), r.Name, r.StateFile)
	switch {
	case r.OldDown && r.Complete:
		fmt.Fprintf(out, "%s did not answer: it was removed first, then %s added\n", label(r.OldName, r.Old), r.Name)
	case r.OldDown:
		fmt.Fprintf(out, "%s does not answer: it is removed first, then %s added (etcd refuses an add while a voter is down)\n", label(r.OldName, r.Old), r.Name)
	}
	for i, s := range r.Steps {
		fmt.Fprintf(out, "%d. [%s] %s\n", i+1, s.State, s.Step)
	}
	if r.Gate != nil {
		if r.Gate.Holds {
			fmt.Fprintf(out, "gate (%s): holds\n", r.Gate.Gate)
		} else {
			fmt.Fprintf(out, "gate (%s): refuses: %s\n", r.Gate.Gate, r.Gate.Reason)
		}
	}
	if r.StoppedAt != "" {
		fmt.Fprintf(out, "stopped at %s: %s\n", r.StoppedAt, r.Reason)
	}
	if r.Complete {
		fmt.Fprintf(out, "%s replaced %s\n", r.Name, label(r.OldName, r.Old))
	}
	return nil
}

func RunReplace(ctx context.Context, opts *ReplaceOptions) error {
	c, err := opts.OpenCluster()
	if err != nil {
		return err
	}
	defer c.Close()
	t, _ := health.Preset(health.DefaultPreset)
	ro := member.ReplaceOptions{Old: opts.Old, Name: opts.Name, PeerURLs: opts.PeerURLs, StateFile: opts.StateFile, Wait: opts.Wait,
		AgreeTimeout: opts.AgreeTimeout, Thresholds: t, Retry: 15 * time.Second, KeepOldRunning: opts.KeepOld,
		OnStep: func(s, detail string) { fmt.Fprintf(opts.IO.ErrOut, "replace: %s: %s\n", s, detail) }}
	var refused *health.Refusal
	// With --yes the apply follows the plan at once and acts on its
	// verdict; after a prompt, which may have waited on a person for
	// minutes, it judges again.
	var planned *member.Journal
	var plannedGate *member.Gate
	_, err = step.Run(ctx, step.Options{IO: opts.IO, Format: opts.Format(), Yes: opts.Yes, DryRun: opts.DryRun}, step.Step[*ReplaceResult]{
		Plan: func(ctx context.Context) (step.Plan[*ReplaceResult], error) {
			j, g, err := member.PlanReplace(ctx, c, ro)
			if err != nil {
				return step.Plan[*ReplaceResult]{}, err
			}
			if !opts.DryRun {
				if err := member.StopOnGate(j, g); err != nil {
					return step.Plan[*ReplaceResult]{}, err
				}
			}
			if opts.Yes {
				planned, plannedGate = j, g
			}
			r := resultOf(j)
			r.Gate = &GateVerdict{Gate: "none", Holds: true}
			if g != nil {
				r.Gate.Gate = "every voter healthy"
				if j.OldDown {
					r.Gate.Gate = "every voter but " + label(j.OldName, j.Old) + " healthy"
				}
				if g.Refusal != nil {
					r.Gate = &GateVerdict{Gate: g.Refusal.Gate, Reason: g.Refusal.String()}
					refused = g.Refusal
				}
			}
			p := step.Plan[*ReplaceResult]{Preview: r, Question: fmt.Sprintf("Replace %s by %s?", label(j.OldName, j.Old), opts.Name)}
			for _, s := range r.Steps {
				if s.State != "done" {
					p.Changes = append(p.Changes, step.Change{Action: s.Step, Target: opts.Name, Line: s.Step})
				}
			}
			return p, nil
		},
		Apply: func(ctx context.Context) (*ReplaceResult, error) {
			var j *member.Journal
			var err error
			if planned != nil {
				j, err = member.ReplacePlanned(ctx, c, ro, planned, plannedGate)
			} else {
				j, err = member.Replace(ctx, c, ro)
			}
			if j == nil {
				return nil, err
			}
			return resultOf(j), err
		},
	})
	if err == nil && opts.DryRun && refused != nil {
		return fault.Mark(fmt.Errorf("dry run: the gate would refuse: %w", refused), fault.Refused)
	}
	return err
}
