package health

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	gohumanize "github.com/dustin/go-humanize"
)

// Thresholds are the numbers findings are judged by. Every number says where
// it comes from (docs/doctor.md lists each with its source); "ours" marks
// a number no expert source gives, chosen by this project.
type Thresholds struct {
	QuotaWarn, QuotaCrit float64 // DB size / quota

	// Fragmentation: warn when the free share of the file reaches FragRatio and
	// the in-use size is over FragMinInUse (small DBs are not worth a stall).
	FragRatio    float64
	FragMinInUse int64
	QuotaMax     int64 // quota above this: etcd's suggested maximum

	FsyncWarn, FsyncCrit   time.Duration // p99 WAL fsync over the window
	CommitWarn, CommitCrit time.Duration // p99 backend commit over the window
	ApplyGapWarn           uint64        // committed − applied
	ApplyGapCrit           uint64
	FollowerLagWarn        uint64 // leader committed − follower committed
	ReadWarn               time.Duration
	PeerRTTWarn            time.Duration
	FDWarn, FDCrit         float64 // open fds / limit
	// A p99 over fewer observations than this is not judged as slow.
	LatencyMinObservations uint64

	// Counter increases tolerated during the window before a warning.
	LeaderChangesWarn, ProposalsFailedWarn, SlowAppliesWarn, HeartbeatFailuresWarn uint64

	// Compaction (doctor --node): the share of the quota the history kept
	// between two compactions takes at the revision growth rate seen, and,
	// when nothing compacts, how soon the quota is reached before it is
	// critical.
	CompactionWarn, CompactionCrit float64
	CompactionETACrit              time.Duration
	// ProbeMargin: the etcd static pod's startup budget must be at least
	// this many times the member's expected start.
	ProbeMargin float64
}

// DefaultPreset is the preset every command judges by unless told otherwise.
const DefaultPreset = "upstream"

// Presets, by name.
var presets = map[string]Thresholds{
	"upstream": {
		QuotaWarn: 0.80, // ours: the etcd-defrag example rule's 80 %, before the mixin's 95 % critical
		QuotaCrit: 0.95, // etcd mixin etcdDatabaseQuotaLowSpace
		FragRatio: 0.50, // etcd mixin etcdDatabaseHighFragmentationRatio: in-use/total < 0.5 ...
		// ... and in-use > 100 MiB (floor added by etcd PR #15291: the alert was "trigger happy" on small DBs)
		FragMinInUse:    100 << 20,
		QuotaMax:        8 << 30,                // etcd: 8 GiB "suggested maximum" (server/storage/quota.go)
		FsyncWarn:       10 * time.Millisecond,  // etcd FAQ: p99 "should be less than 10ms"
		FsyncCrit:       500 * time.Millisecond, // etcd mixin etcdHighFsyncDurations (warning level)
		CommitWarn:      25 * time.Millisecond,  // etcd FAQ: p99 "should be less than 25ms"
		CommitCrit:      250 * time.Millisecond, // etcd mixin etcdHighCommitDurations
		ApplyGapWarn:    1000,                   // ours; etcd docs: "within a few thousands even under high load"
		ApplyGapCrit:    5000,                   // etcd refuses proposals past this gap (maxGapBetweenApplyAndCommitIndex)
		FollowerLagWarn: 1000,                   // ours, = defrag's "caught up" gate; far past it (SnapshotCatchUpEntries 5000) a follower needs a full snapshot
		ReadWarn:        150 * time.Millisecond, // ours; mirrors the mixin's etcdGRPCRequestsSlow p99 0.15 s
		PeerRTTWarn:     150 * time.Millisecond, // etcd mixin etcdMemberCommunicationSlow
		FDWarn:          0.80,                   // etcd logs a warning at 80 % (etcdserver/metrics.go)
		FDCrit:          0.95,                   // ours: near exhaustion etcd cannot create WAL files
		// ours: a p99 needs about 100 observations to be more than the
		// maximum of a few; 50 keeps a 5 s window of a lightly loaded
		// member judgeable while an idle one's 3-10 fsyncs are not.
		LatencyMinObservations: 50,
		// Counters: any increase within a few seconds' window is worth a look
		// (ours; the mixin's alerts integrate over 15 min to 1 h, e.g.
		// etcdHighNumberOfLeaderChanges ≥ 4 in 15 min, which a short CLI
		// window cannot reproduce).
		LeaderChangesWarn: 0, ProposalsFailedWarn: 0, SlowAppliesWarn: 0, HeartbeatFailuresWarn: 0,
		// ours: history that alone takes a quarter of the quota leaves little
		// for the live data and free pages before quota.warn; half, none.
		CompactionWarn: 0.25, CompactionCrit: 0.50,
		// ours: nothing compacts and the quota is full within a week.
		CompactionETACrit: 7 * 24 * time.Hour,
		// ours: the start must fit in the budget (breakglass probes --relax
		// writes twice that, kubernetes/kubeadm#2759).
		ProbeMargin: 1,
	},
}

func init() {
	o := presets["upstream"]
	o.QuotaWarn = 0.75                    // OpenShift etcdDatabaseQuotaLowSpace warning
	o.QuotaCrit = 0.85                    // OpenShift critical
	o.FragRatio = 0.45                    // OpenShift defrag controller: ≥ 45 % fragmented ...
	o.FragMinInUse = 100 << 20            // ... and ≥ 100 MB
	o.CommitCrit = 500 * time.Millisecond // OpenShift etcdHighCommitDurations
	presets["openshift"] = o
}

// PresetNames lists the presets for help and error messages.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Preset returns the named thresholds.
func Preset(name string) (Thresholds, error) {
	t, ok := presets[name]
	if !ok {
		return Thresholds{}, fmt.Errorf("unknown preset %q: valid presets are %s", name, strings.Join(PresetNames(), ", "))
	}
	return t, nil
}

type override struct {
	set func(t *Thresholds, v string) error
}

func ratio(dst func(*Thresholds) *float64) override {
	return override{func(t *Thresholds, v string) error {
		pct := strings.HasSuffix(v, "%")
		f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
		if pct {
			f /= 100
		}
		if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
			return fmt.Errorf("want a ratio like 0.75 or 75%%, got %q", v)
		}
		*dst(t) = f
		return nil
	}}
}

func duration(dst func(*Thresholds) *time.Duration) override {
	return override{func(t *Thresholds, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("want a duration like 20ms, got %q", v)
		}
		*dst(t) = d
		return nil
	}}
}

func count(dst func(*Thresholds) *uint64) override {
	return override{func(t *Thresholds, v string) error {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", v)
		}
		*dst(t) = n
		return nil
	}}
}

func size(dst func(*Thresholds) *int64) override {
	return override{func(t *Thresholds, v string) error {
		n, err := gohumanize.ParseBytes(v)
		if err != nil {
			return fmt.Errorf("want a size like 100MiB, got %q", v)
		}
		*dst(t) = int64(n)
		return nil
	}}
}

// factor is a multiple, "1.5" or "1.5x", between 0.1 and 10.
func factor(dst func(*Thresholds) *float64) override {
	return override{func(t *Thresholds, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSuffix(v, "x"), 64)
		if err != nil || math.IsNaN(f) || f < 0.1 || f > 10 {
			return fmt.Errorf("want a factor between 0.1 and 10 like 1.5 or 1.5x, got %q", v)
		}
		*dst(t) = f
		return nil
	}}
}

var overrides = map[string]override{
	"compaction.warn":         ratio(func(t *Thresholds) *float64 { return &t.CompactionWarn }),
	"compaction.crit":         ratio(func(t *Thresholds) *float64 { return &t.CompactionCrit }),
	"compaction.etaCrit":      duration(func(t *Thresholds) *time.Duration { return &t.CompactionETACrit }),
	"probes.margin":           factor(func(t *Thresholds) *float64 { return &t.ProbeMargin }),
	"quota.warn":              ratio(func(t *Thresholds) *float64 { return &t.QuotaWarn }),
	"quota.crit":              ratio(func(t *Thresholds) *float64 { return &t.QuotaCrit }),
	"quota.max":               size(func(t *Thresholds) *int64 { return &t.QuotaMax }),
	"frag.ratio":              ratio(func(t *Thresholds) *float64 { return &t.FragRatio }),
	"frag.minInUse":           size(func(t *Thresholds) *int64 { return &t.FragMinInUse }),
	"fsync.warn":              duration(func(t *Thresholds) *time.Duration { return &t.FsyncWarn }),
	"fsync.crit":              duration(func(t *Thresholds) *time.Duration { return &t.FsyncCrit }),
	"commit.warn":             duration(func(t *Thresholds) *time.Duration { return &t.CommitWarn }),
	"commit.crit":             duration(func(t *Thresholds) *time.Duration { return &t.CommitCrit }),
	"applyGap.warn":           count(func(t *Thresholds) *uint64 { return &t.ApplyGapWarn }),
	"applyGap.crit":           count(func(t *Thresholds) *uint64 { return &t.ApplyGapCrit }),
	"followerLag.warn":        count(func(t *Thresholds) *uint64 { return &t.FollowerLagWarn }),
	"read.warn":               duration(func(t *Thresholds) *time.Duration { return &t.ReadWarn }),
	"peerRTT.warn":            duration(func(t *Thresholds) *time.Duration { return &t.PeerRTTWarn }),
	"fd.warn":                 ratio(func(t *Thresholds) *float64 { return &t.FDWarn }),
	"leaderChanges.warn":      count(func(t *Thresholds) *uint64 { return &t.LeaderChangesWarn }),
	"proposalsFailed.warn":    count(func(t *Thresholds) *uint64 { return &t.ProposalsFailedWarn }),
	"slowApplies.warn":        count(func(t *Thresholds) *uint64 { return &t.SlowAppliesWarn }),
	"heartbeatFailures.warn":  count(func(t *Thresholds) *uint64 { return &t.HeartbeatFailuresWarn }),
	"fd.crit":                 ratio(func(t *Thresholds) *float64 { return &t.FDCrit }),
	"latency.minObservations": count(func(t *Thresholds) *uint64 { return &t.LatencyMinObservations }),
}

// OverrideKeys lists the keys --set accepts.
func OverrideKeys() []string {
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Set applies one "key=value" override.
func (t *Thresholds) Set(kv string) error {
	key, val, ok := strings.Cut(kv, "=")
	if !ok {
		return fmt.Errorf("override %q: want key=value, e.g. fsync.warn=20ms", kv)
	}
	o, ok := overrides[key]
	if !ok {
		return fmt.Errorf("unknown override %q: valid keys are %s", key, strings.Join(OverrideKeys(), ", "))
	}
	if err := o.set(t, val); err != nil {
		return fmt.Errorf("override %s: %v", key, err)
	}
	return nil
}

// Check rejects thresholds whose warning level exceeds the critical one
// (after every override is applied: their order does not matter).
func (t *Thresholds) Check() error {
	for _, p := range []struct {
		name       string
		warn, crit float64
	}{
		{"quota", t.QuotaWarn, t.QuotaCrit},
		{"fsync", float64(t.FsyncWarn), float64(t.FsyncCrit)},
		{"commit", float64(t.CommitWarn), float64(t.CommitCrit)},
		{"applyGap", float64(t.ApplyGapWarn), float64(t.ApplyGapCrit)},
		{"fd", t.FDWarn, t.FDCrit},
		{"compaction", t.CompactionWarn, t.CompactionCrit},
	} {
		if p.warn > p.crit {
			return fmt.Errorf("%s.warn is above %s.crit", p.name, p.name)
		}
	}
	return nil
}

// Resolve builds the thresholds a command judges by: the named preset (the
// default preset when empty), then each "key=value" override in order, then
// the warn ≤ crit check.
func Resolve(preset string, overrides []string) (Thresholds, error) {
	if preset == "" {
		preset = DefaultPreset
	}
	t, err := Preset(preset)
	if err != nil {
		return Thresholds{}, err
	}
	for _, kv := range overrides {
		if err := t.Set(kv); err != nil {
			return Thresholds{}, err
		}
	}
	if err := t.Check(); err != nil {
		return Thresholds{}, err
	}
	return t, nil
}

// CarryArgs are the --preset and --set flags a printed next step needs to be
// judged as this run judged: the preset when it is not the default, and the
// overrides whose key starts with one of prefixes (all when none is given).
func CarryArgs(preset string, overrides []string, prefixes ...string) []string {
	var args []string
	if preset != "" && preset != DefaultPreset {
		args = append(args, "--preset", preset)
	}
	for _, kv := range overrides {
		key, _, _ := strings.Cut(kv, "=")
		keep := len(prefixes) == 0
		for _, p := range prefixes {
			keep = keep || strings.HasPrefix(strings.TrimSpace(key), p)
		}
		if keep {
			args = append(args, "--set", kv)
		}
	}
	return args
}
