package breakglass

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/etcdmedic/etcdmedic/internal/atomicfile"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// ErrRegression means a ramp gate failed: the limits were stepped back one.
var ErrRegression = fault.Mark(errors.New("regression"), fault.Failed)

// MinRampInterval is the shortest wait the CLI accepts after a step: the
// kubelet looks at its static-pod directory every 20 s, so a shorter wait
// would gate the pod that still runs the previous limits.
const MinRampInterval = 20 * time.Second

// RampOptions: raise the break-glass apiserver's inflight limits to To (and
// ToMutating, default To/2) in Steps equal steps, Interval apart, each step
// gated on Gate after the interval.
type RampOptions struct {
	To, ToMutating int
	Steps          int
	Interval       time.Duration
	Gate           func(ctx context.Context) error
	DryRun         bool
	// Progress hears of each step as it goes: written, every Tick of the
	// wait (default 10 s), and its result.
	Progress func(RampProgress)
	Tick     time.Duration
}

// RampProgress is one report of a running ramp.
type RampProgress struct {
	Step, Steps int // Step is 1-based
	Limits      RampStep
	Stage       string        // "written", "waiting", then the step's result: ok, stepped-back, failed
	Left        time.Duration // of the interval, while waiting
}

// RampStep is one setting of the two limits.
type RampStep struct {
	MaxRequestsInflight         int    `json:"maxRequestsInflight"`
	MaxMutatingRequestsInflight int    `json:"maxMutatingRequestsInflight"`
	Result                      string `json:"result"` // planned, ok, stepped-back, failed
	Detail                      string `json:"detail,omitempty"`
}

// RampPlan interpolates from the current limits to the targets.
func RampPlan(cur, curMut, to, toMut, steps int) []RampStep {
	if steps <= 0 {
		steps = 1
	}
	var out []RampStep
	for i := 1; i <= steps; i++ {
		out = append(out, RampStep{
			MaxRequestsInflight:         cur + (to-cur)*i/steps,
			MaxMutatingRequestsInflight: curMut + (toMut-curMut)*i/steps,
			Result:                      "planned",
		})
	}
	return out
}

// BreakGlassManifest reads the generated apiserver manifest, refusing any
// other file: ramp only ever edits what etcdmedic wrote.
func BreakGlassManifest(l *Layout) (*Manifest, error) {
	path := filepath.Join(l.ManifestDir, BreakGlassFileName)
	data, err := os.ReadFile(path)
	if err != nil {
		step := []string{"breakglass", "apiserver", "--localhost"}
		return nil, needsStep(fmt.Errorf("%w: no break-glass apiserver manifest (%s); run %s first (below)", ErrRefused, l.Rel(path), stepName(step...)), step...)
	}
	m, err := ParseManifest(path, data)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() || !m.IsBreakGlass() {
		// A symlink there is not what etcdmedic wrote either: rewriting
		// it would replace the link, not the file the kubelet runs.
		err := fmt.Errorf("%w: %s was not written by etcdmedic", ErrRefused, l.Rel(path))
		if fi != nil && fi.Mode().IsRegular() && m.Component == KubeAPIServer {
			// The original apiserver still runs: the runbook is two steps back.
			step := []string{"breakglass", "etcd-only"}
			return nil, needsStep(fmt.Errorf("%w: the original kube-apiserver still runs; run %s, then the break-glass apiserver, first (below)", err, stepName(step...)), step...)
		}
		return nil, err
	}
	return m, nil
}

// Ramp runs the plan. On a failed gate it writes the previous step's limits
// back, journals that, and returns ErrRegression.
func Ramp(ctx context.Context, l *Layout, j *Journal, o RampOptions) ([]RampStep, error) {
	m, err := BreakGlassManifest(l)
	if err != nil {
		return nil, err
	}
	a := APIServerFlags(m)
	cur, _ := strconv.Atoi(a.Get("max-requests-inflight"))
	curMut, _ := strconv.Atoi(a.Get("max-mutating-requests-inflight"))
	if o.ToMutating <= 0 {
		o.ToMutating = o.To / 2
	}
	if o.To < cur || o.ToMutating < curMut {
		return nil, fault.Mark(fmt.Errorf("ramp only raises limits: now %d/%d, asked %d/%d", cur, curMut, o.To, o.ToMutating), fault.Invalid)
	}
	steps := RampPlan(cur, curMut, o.To, o.ToMutating, o.Steps)
	if o.DryRun {
		return steps, nil
	}
	prev := RampStep{MaxRequestsInflight: cur, MaxMutatingRequestsInflight: curMut}
	report := func(i int, stage string, left time.Duration) {
		if o.Progress != nil {
			o.Progress(RampProgress{Step: i + 1, Steps: len(steps), Limits: steps[i], Stage: stage, Left: left})
		}
	}
	for i := range steps {
		s := &steps[i]
		if err := setLimits(l, j, m, s.MaxRequestsInflight, s.MaxMutatingRequestsInflight, ""); err != nil {
			s.Result, s.Detail = ResultFailed, err.Error()
			report(i, s.Result, 0)
			return steps, err
		}
		report(i, "written", o.Interval)
		if err := waitInterval(ctx, o, func(left time.Duration) { report(i, "waiting", left) }); err != nil {
			return steps, err
		}
		if o.Gate != nil {
			if gerr := o.Gate(ctx); gerr != nil {
				s.Result, s.Detail = "stepped-back", gerr.Error()
				report(i, s.Result, 0)
				if err := setLimits(l, j, m, prev.MaxRequestsInflight, prev.MaxMutatingRequestsInflight, "stepped back: "+gerr.Error()); err != nil {
					return steps, err
				}
				return steps, fmt.Errorf("%w at %d/%d: %v; back at %d/%d", ErrRegression, s.MaxRequestsInflight, s.MaxMutatingRequestsInflight, gerr, prev.MaxRequestsInflight, prev.MaxMutatingRequestsInflight)
			}
		}
		s.Result = ResultOK
		report(i, s.Result, 0)
		prev = *s
	}
	return steps, nil
}

// waitInterval sleeps o.Interval, telling tick how much is left every o.Tick,
// so a person watching a 5-minute step sees it is alive.
func waitInterval(ctx context.Context, o RampOptions, tick func(left time.Duration)) error {
	every := o.Tick
	if every <= 0 {
		every = 10 * time.Second
	}
	end := time.Now().Add(o.Interval)
	t := time.NewTicker(every)
	defer t.Stop()
	done := time.NewTimer(o.Interval)
	defer done.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done.C:
			return nil
		case <-t.C:
			if left := time.Until(end); left > 0 {
				tick(left)
			}
		}
	}
}

func setLimits(l *Layout, j *Journal, m *Manifest, max, mut int, detail string) error {
	for i := range m.Pod.Spec.Containers {
		c := &m.Pod.Spec.Containers[i]
		if c.Name != KubeAPIServer && (len(c.Command) == 0 || filepath.Base(c.Command[0]) != KubeAPIServer) {
			continue
		}
		a := NewContainerArgs(c.Command, c.Args)
		if a.Has("max-requests-inflight") {
			a.Set("max-requests-inflight", strconv.Itoa(max))
		}
		if a.Has("max-mutating-requests-inflight") {
			a.Set("max-mutating-requests-inflight", strconv.Itoa(mut))
		}
		c.Command, c.Args = a.Command(), a.Args()
	}
	data, err := marshalPod(m.Pod)
	if err != nil {
		return err
	}
	e := Entry{Action: ActRamp, Path: l.Rel(m.Path), SHA256: digest(data), MaxRequestsInflight: max, MaxMutatingRequestsInflight: mut, Result: ResultOK, Detail: detail}
	werr := atomicfile.WriteFile(m.Path, data, 0o600)
	if werr != nil {
		e.Result, e.Detail = ResultFailed, werr.Error()
	}
	if _, err := j.Append(e); err != nil {
		return err
	}
	return werr
}
