package health

import (
	"errors"
	"strings"
	"testing"
)

func thresholdsOf(t *testing.T, set ...string) Thresholds {
	t.Helper()
	th, err := Resolve("", set)
	if err != nil {
		t.Fatal(err)
	}
	return th
}

// 2 GiB quota, 1 KiB per revision (100 MiB in use over 102400 keys).
func growth(rate float64) *Growth {
	return &Growth{WindowSeconds: 5, RevisionsPerSecond: rate, Keys: 102400, DBSize: 200 << 20, DBSizeInUse: 100 << 20, Quota: 2 << 30}
}

// The judgement, case by case: what is kept between compactions at the
// rate seen, against the quota.
func TestJudgeCompaction(t *testing.T) {
	api5m := map[string]string{}
	apiOff := map[string]string{"etcd-compaction-interval": "0"}
	for _, c := range []struct {
		name      string
		in        CompactionInput
		set       []string
		want      Severity
		observed  string
		adviceHas string
	}{
		{name: "no etcd manifest", in: CompactionInput{}, want: Unknown, observed: "no etcd manifest"},
		{name: "etcd off, apiserver unreadable", in: CompactionInput{EtcdFlags: map[string]string{}, APIServerErr: errors.New("open kube-apiserver.yaml: permission denied"), Growth: growth(10)},
			want: Unknown, observed: "permission denied"},
		{name: "both off, no growth rate", in: CompactionInput{EtcdFlags: map[string]string{}, APIServerFlags: apiOff, GrowthErr: errors.New("refused")},
			want: Warn, observed: "growth rate unknown: refused", adviceHas: "--etcd-compaction-interval=5m"},
		// 100 rev/s × 1 KiB = 100 KiB/s: 1.8 GiB free of quota fills in ~5 h.
		{name: "both off, growing", in: CompactionInput{EtcdFlags: map[string]string{}, APIServerFlags: apiOff, Growth: growth(100)},
			want: Crit, observed: "100.0 rev/s", adviceHas: "--auto-compaction-retention=1h"},
		// 0.1 rev/s: ~7 months to the quota: a warning, not critical.
		{name: "both off, slow", in: CompactionInput{EtcdFlags: map[string]string{}, APIServerFlags: apiOff, Growth: growth(0.1)},
			want: Warn, observed: "0.1 rev/s"},
		// apiserver default 5 m: 100 rev/s × 600 s × 1 KiB = 59 MiB, 2.9 %.
		{name: "apiserver default", in: CompactionInput{EtcdFlags: map[string]string{}, APIServerFlags: api5m, Growth: growth(100)},
			want: OK, observed: "apiserver every 5m0s (default) keeps up to 60000 revisions"},
		// etcd periodic 72h, apiserver off: 100 × (72h + 1h) × 1 KiB = 25 GiB.
		{name: "etcd 72h retention alone", in: CompactionInput{EtcdFlags: map[string]string{"auto-compaction-retention": "72"}, EtcdSource: "/etc/kubernetes/manifests/etcd.yaml", APIServerFlags: apiOff, Growth: growth(100)},
			want: Crit, observed: "etcd periodic 72h keeps up to 26280000 revisions (~25 GiB", adviceHas: "lower etcd's --auto-compaction-retention to 21m0s in /etc/kubernetes/manifests/etcd.yaml"},
		// The tighter side bounds the history: the apiserver's 5 m beats 72 h.
		{name: "both on, the tighter wins", in: CompactionInput{EtcdFlags: map[string]string{"auto-compaction-retention": "72h"}, APIServerFlags: api5m, Growth: growth(100)},
			want: OK, observed: "apiserver every 5m0s (default) keeps"},
		// apiserver every 2 h: 100 × 4 h × 1 KiB = 1.4 GiB of 2 GiB: crit; at
		// 20 rev/s 275 MiB, 13 %: ok; --set compaction.warn=10% makes it warn.
		// The advice keeps half the warning level: 12.5 % of 2 GiB is 262144
		// revisions, at 100 rev/s two intervals of 21 minutes.
		{name: "apiserver 2h", in: CompactionInput{EtcdFlags: map[string]string{}, APIServerFlags: map[string]string{"etcd-compaction-interval": "2h"}, APIServerManifest: "/m/kube-apiserver.yaml", Growth: growth(100)},
			want: Crit, adviceHas: "lower kube-apiserver's --etcd-compaction-interval to 21m0s in /m/kube-apiserver.yaml"},
		{name: "apiserver 2h, 20 rev/s", in: CompactionInput{EtcdFlags: map[string]string{}, APIServerFlags: map[string]string{"etcd-compaction-interval": "2h"}, Growth: growth(20)}, want: OK},
		{name: "apiserver 2h, 20 rev/s, warn at 10%", set: []string{"compaction.warn=10%"}, in: CompactionInput{EtcdFlags: map[string]string{}, APIServerFlags: map[string]string{"etcd-compaction-interval": "2h"}, Growth: growth(20)}, want: Warn},
		{name: "revision mode", in: CompactionInput{EtcdFlags: map[string]string{"auto-compaction-mode": "revision", "auto-compaction-retention": "10000"}, Growth: growth(100)},
			want: OK, observed: "etcd revision 10000 keeps up to 40000 revisions"},
		{name: "compaction on, growth unknown", in: CompactionInput{EtcdFlags: map[string]string{"auto-compaction-retention": "1h"}, GrowthErr: errors.New("refused")}, want: Unknown, observed: "refused"},
		{name: "bad retention", in: CompactionInput{EtcdFlags: map[string]string{"auto-compaction-retention": "soon"}, Growth: growth(1)}, want: Unknown, observed: `"soon"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := JudgeCompaction(c.in, thresholdsOf(t, c.set...))
			if f.Severity != c.want || !strings.Contains(f.Observed, c.observed) || !strings.Contains(f.Advice, c.adviceHas) {
				t.Errorf("got %s, observed %q, advice %q; want %s, observed containing %q, advice containing %q", f.Severity, f.Observed, f.Advice, c.want, c.observed, c.adviceHas)
			}
			if f.Severity != OK && f.Severity != Unknown && f.Advice == "" {
				t.Errorf("a %s finding without advice: %+v", f.Severity, f)
			}
		})
	}
}

func TestJudgeProbeBudget(t *testing.T) {
	th := thresholdsOf(t)
	facts := ProbeFacts{Manifest: "/m/etcd.yaml", HasLiveness: true, LivenessSeconds: 90, DBBytes: 8 << 30, ReadBytesPerSecond: 20 << 20, ExpectedStartSeconds: 410, Relax: "etcdmedic breakglass probes --relax"}
	f := JudgeProbeBudget(facts, th)
	if f.Severity != Warn || f.Advice != facts.Relax || f.Member != facts.Manifest || !strings.Contains(f.Short, "liveness budget 90s < start 410s") {
		t.Errorf("90 s for a 410 s start: %+v", f)
	}
	facts.HasStartup, facts.StartupSeconds = true, 820
	if f := JudgeProbeBudget(facts, th); f.Severity != OK || f.Advice != "" {
		t.Errorf("a startup probe of 820 s: %+v", f)
	}
	if f := JudgeProbeBudget(facts, thresholdsOf(t, "probes.margin=2.5x")); f.Severity != Warn {
		t.Errorf("820 s with a 2.5× margin over 410 s: %+v", f)
	}
	if _, err := Resolve("", []string{"probes.margin=0"}); err == nil {
		t.Error("probes.margin=0 accepted")
	}
}

// A revision's size: what the in-use size grew by per revision over the
// window when enough were written, else the in-use size per key.
func TestGrowthBytesPerRevision(t *testing.T) {
	g := &Growth{Revisions: 500, InUseGrowth: 1 << 20, DBSizeInUse: 100 << 20, Keys: 1000}
	if b := g.BytesPerRevision(); b != 2097.152 || g.SizeSource() != "in-use growth per revision" {
		t.Errorf("500 revisions grew 1 MiB: %v from %s", b, g.SizeSource())
	}
	for _, g := range []*Growth{
		{Revisions: 50, InUseGrowth: 1 << 20, DBSizeInUse: 100 << 20, Keys: 1000}, // too few revisions
		{Revisions: 500, InUseGrowth: -4096, DBSizeInUse: 100 << 20, Keys: 1000},  // compacted meanwhile
	} {
		if b := g.BytesPerRevision(); b != 104857.6 || g.SizeSource() != "in use per key" {
			t.Errorf("%+v: %v from %s, want 100 MiB / 1000 keys", g, b, g.SizeSource())
		}
	}
}
