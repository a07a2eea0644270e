package breakglass

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/storage/datadir"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// probesReason starts the Detail of the journaled probe edit.
const probesReason = "probes"

// ProbeBudget is how long the kubelet gives a probe before it kills the
// container: initialDelay + failureThreshold × period.
type ProbeBudget struct {
	Present          bool    `json:"present"`
	Path             string  `json:"path,omitempty"`
	InitialDelay     int32   `json:"initialDelaySeconds"`
	Period           int32   `json:"periodSeconds"`
	FailureThreshold int32   `json:"failureThreshold"`
	BudgetSeconds    float64 `json:"budgetSeconds"`
}

func budgetOf(p *corev1.Probe) ProbeBudget {
	if p == nil {
		return ProbeBudget{}
	}
	b := ProbeBudget{Present: true, InitialDelay: p.InitialDelaySeconds, Period: p.PeriodSeconds, FailureThreshold: p.FailureThreshold}
	// The kubelet's defaults for unset fields.
	if b.Period == 0 {
		b.Period = 10
	}
	if b.FailureThreshold == 0 {
		b.FailureThreshold = 3
	}
	if p.HTTPGet != nil {
		b.Path = p.HTTPGet.Path
	}
	b.BudgetSeconds = float64(b.InitialDelay) + float64(b.FailureThreshold)*float64(b.Period)
	return b
}

// ProbesReport sets the etcd static pod's probe budgets against the time this
// member needs to start.
type ProbesReport struct {
	Manifest string `json:"manifest"`
	DataDir  string `json:"dataDir"`
	DBBytes  int64  `json:"dbBytes"`
	WALBytes int64  `json:"walBytes"`
	// ReadBytesPerSecond is the data dir's sequential read rate, measured on
	// the bolt file with its cached pages dropped first (0 with
	// --expected-start).
	ReadBytesPerSecond   float64     `json:"readBytesPerSecond"`
	ExpectedStartSeconds float64     `json:"expectedStartSeconds"`
	Liveness             ProbeBudget `json:"liveness"`
	Startup              ProbeBudget `json:"startup"`
	// GuardSeconds is the budget the start must fit in: the startup probe's,
	// else the liveness probe's (it runs from the start without one).
	GuardSeconds float64 `json:"guardSeconds"`
	Enough       bool    `json:"enough"`
	Finding      string  `json:"finding"`
	// Check is the finding health judges from these facts, the one doctor
	// reports too.
	Check health.Finding `json:"check"`
	// Relaxed is the startup probe --relax writes (budget ≥ 2 ×
	// probes.margin × the expected start); nil when nothing needs to change.
	Relaxed *ProbeBudget  `json:"relaxed,omitempty"`
	Edit    *ManifestEdit `json:"edit,omitempty"`
}

// ProbesOptions: ExpectedStart, when set, replaces the measurement (a rate
// measured elsewhere, a start time seen in the logs).
type ProbesOptions struct {
	ExpectedStart time.Duration
	// Thresholds judge the budget (zero: the default preset's).
	Thresholds health.Thresholds
	// Relax is the command the finding advises (probes --relax with the
	// flags in effect).
	Relax string
	// SampleBytes and SampleTime bound the read-rate measurement.
	SampleBytes int64
	SampleTime  time.Duration
}

// Probes reads the etcd manifest's probes and sets them against the expected
// start: (bolt file + WAL) ÷ the data dir's sequential read rate. It changes
// nothing.
func Probes(l *Layout, o ProbesOptions) (*ProbesReport, *Manifest, error) {
	m, err := l.etcdManifest()
	if err != nil {
		return nil, nil, err
	}
	dd, err := EtcdDataDir(l)
	if err != nil {
		return nil, nil, err
	}
	c := etcdContainer(m.Pod)
	r := &ProbesReport{Manifest: l.Rel(m.Path), DataDir: l.Rel(dd), Liveness: budgetOf(c.LivenessProbe), Startup: budgetOf(c.StartupProbe)}
	if st, err := os.Stat(datadir.ToBackendFileName(dd)); err == nil {
		r.DBBytes = st.Size()
	}
	r.WALBytes, _ = treeBytes(datadir.ToWALDir(dd))
	if o.ExpectedStart > 0 {
		r.ExpectedStartSeconds = o.ExpectedStart.Seconds()
	} else {
		rate, err := readRate(datadir.ToBackendFileName(dd), o)
		if err != nil {
			return r, m, fault.Mark(fmt.Errorf("measure the read rate of %s: %w (or pass --expected-start)", r.DataDir, err), fault.Invalid)
		}
		r.ReadBytesPerSecond = rate
		r.ExpectedStartSeconds = float64(r.DBBytes+r.WALBytes) / rate
	}
	facts := r.Facts(o.Relax)
	_, r.GuardSeconds = facts.Guard()
	// health judges, so breakglass probes and doctor say the same.
	r.Check = health.JudgeProbeBudget(facts, o.thresholds())
	r.Enough, r.Finding = r.Check.Severity == health.OK, r.Check.Observed
	if want := o.relaxTo(r.ExpectedStartSeconds); r.GuardSeconds < want && (r.Startup.Present || r.Liveness.Present) {
		b := budgetOf(relaxedStartup(c, want))
		r.Relaxed = &b
	}
	return r, m, nil
}

// Facts are what health judges: the budgets and the expected start.
func (r *ProbesReport) Facts(relax string) health.ProbeFacts {
	return health.ProbeFacts{Manifest: r.Manifest, HasLiveness: r.Liveness.Present, HasStartup: r.Startup.Present,
		LivenessSeconds: r.Liveness.BudgetSeconds, StartupSeconds: r.Startup.BudgetSeconds, DBBytes: r.DBBytes, WALBytes: r.WALBytes,
		ReadBytesPerSecond: r.ReadBytesPerSecond, ExpectedStartSeconds: r.ExpectedStartSeconds, Relax: relax}
}

func (o ProbesOptions) thresholds() health.Thresholds {
	if o.Thresholds == (health.Thresholds{}) {
		t, _ := health.Preset(health.DefaultPreset)
		return t
	}
	return o.Thresholds
}

// relaxTo is the startup budget --relax writes: twice what the judge asks
// for (2 × probes.margin × the expected start), so the next measurement,
// doctor's, still finds it enough when the disk reads slower than it did
// here. With margin 3× a budget of exactly 3× would warn again on the first
// slower sample.
func (o ProbesOptions) relaxTo(expected float64) float64 {
	return 2 * max(1, o.thresholds().ProbeMargin) * expected
}

// relaxedStartup is the startup probe with a failureThreshold that makes its
// budget at least want seconds. Without one it is the liveness probe's
// handler (/livez: a serializable read, which passes without quorum, where
// /readyz would not): the liveness probe then waits for it.
func relaxedStartup(c *corev1.Container, want float64) *corev1.Probe {
	var p *corev1.Probe
	switch {
	case c.StartupProbe != nil:
		p = c.StartupProbe.DeepCopy()
	default:
		p = c.LivenessProbe.DeepCopy()
	}
	b := budgetOf(p)
	p.PeriodSeconds = b.Period
	need := int32(math.Ceil((want - float64(b.InitialDelay)) / float64(b.Period)))
	p.FailureThreshold = max(need, b.FailureThreshold, 1)
	return p
}

// RelaxProbes writes the manifest with the relaxed startup probe, journaled
// (undo puts the original back byte-identical). The liveness probe stays:
// once started, a hung member must still be restarted.
func RelaxProbes(l *Layout, j *Journal, o ProbesOptions) (*ProbesReport, error) {
	r, m, err := Probes(l, o)
	if err != nil {
		return r, err
	}
	if r.Relaxed == nil {
		return r, nil
	}
	pod := m.Pod.DeepCopy()
	c := etcdContainer(pod)
	c.StartupProbe = relaxedStartup(c, o.relaxTo(r.ExpectedStartSeconds))
	data, err := yaml.Marshal(pod)
	if err != nil {
		return r, err
	}
	if _, err := ParseManifest(m.Path, data); err != nil {
		return r, fmt.Errorf("the relaxed manifest does not parse as a Pod: %w", err)
	}
	ed, err := EditManifest(l, j, m.Path, m.SHA256, data, 0o600, fmt.Sprintf("%s: startupProbe budget %.0fs for an expected start of %.0fs", probesReason, r.Relaxed.BudgetSeconds, r.ExpectedStartSeconds))
	if ed.Seq != 0 {
		r.Edit = &ed
	}
	return r, err
}

// readRate reads the start of the file sequentially, its cached pages
// dropped first so the page cache does not answer for the disk.
func readRate(path string, o ProbesOptions) (float64, error) {
	if o.SampleBytes <= 0 {
		o.SampleBytes = 256 << 20
	}
	if o.SampleTime <= 0 {
		o.SampleTime = 3 * time.Second
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	dropCache(f, o.SampleBytes)
	buf := make([]byte, 1<<20)
	var n int64
	start := time.Now()
	for n < o.SampleBytes && time.Since(start) < o.SampleTime {
		k, err := f.Read(buf)
		n += int64(k)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	took := time.Since(start).Seconds()
	if n == 0 {
		return 0, fmt.Errorf("%s is empty", filepath.Base(path))
	}
	return float64(n) / max(took, 1e-6), nil
}
