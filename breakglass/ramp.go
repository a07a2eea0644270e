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
)

// ErrRegression means a ramp gate failed: the limits were stepped back one.
var ErrRegression = errors.New("regression")

// RampOptions: raise the break-glass apiserver's inflight limits to To (and
// ToMutating, default To/2) in Steps equal steps, Interval apart, each step
// gated on Gate after the interval.
type RampOptions struct {
	To, ToMutating int
	Steps          int
	Interval       time.Duration
	Gate           func(ctx context.Context) error
	DryRun         bool
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
		return nil, fmt.Errorf("%w: no break-glass apiserver manifest (%s); run 'etcdmedic breakglass apiserver --localhost' first", ErrRefused, l.Rel(path))
	}
	m, err := ParseManifest(path, data)
	if err != nil {
		return nil, err
	}
	if !m.IsBreakGlass() {
		return nil, fmt.Errorf("%w: %s was not written by etcdmedic", ErrRefused, l.Rel(path))
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
		return nil, fmt.Errorf("ramp only raises limits: now %d/%d, asked %d/%d", cur, curMut, o.To, o.ToMutating)
	}
	steps := RampPlan(cur, curMut, o.To, o.ToMutating, o.Steps)
	if o.DryRun {
		return steps, nil
	}
	prev := RampStep{MaxRequestsInflight: cur, MaxMutatingRequestsInflight: curMut}
	for i := range steps {
		s := &steps[i]
		if err := setLimits(l, j, m, s.MaxRequestsInflight, s.MaxMutatingRequestsInflight, ""); err != nil {
			s.Result, s.Detail = ResultFailed, err.Error()
			return steps, err
		}
		t := time.NewTimer(o.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return steps, ctx.Err()
		case <-t.C:
		}
		if o.Gate != nil {
			if gerr := o.Gate(ctx); gerr != nil {
				s.Result, s.Detail = "stepped-back", gerr.Error()
				if err := setLimits(l, j, m, prev.MaxRequestsInflight, prev.MaxMutatingRequestsInflight, "stepped back: "+gerr.Error()); err != nil {
					return steps, err
				}
				return steps, fmt.Errorf("%w at %d/%d: %v; back at %d/%d", ErrRegression, s.MaxRequestsInflight, s.MaxMutatingRequestsInflight, gerr, prev.MaxRequestsInflight, prev.MaxMutatingRequestsInflight)
			}
		}
		s.Result = ResultOK
		prev = *s
	}
	return steps, nil
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
