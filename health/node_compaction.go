package health

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/etcdmedic/etcdmedic/internal/humanize"
)

// CompactionID is doctor --node's compaction finding.
const CompactionID = "node.autoCompaction"

// Defaults that decide how much history is kept between compactions.
const (
	// kube-apiserver's --etcd-compaction-interval default.
	APIServerCompactionDefault = 5 * time.Minute
	// etcd's periodic compactor runs every retention period, at most hourly
	// (server/etcdserver/api/v3compactor/periodic.go).
	etcdPeriodicMaxInterval = time.Hour
	// etcd's revision compactor checks every 5 minutes (revision.go).
	etcdRevisionInterval = 5 * time.Minute
)

// CompactionInput is what the compaction check judges.
type CompactionInput struct {
	// EtcdFlags are etcd's flags (nil: no manifest or config was read) and
	// EtcdSource where they came from.
	EtcdFlags  map[string]string
	EtcdSource string
	EtcdErr    error
	// APIServerFlags are kube-apiserver's (nil: unknown, APIServerErr says
	// why), from APIServerManifest.
	APIServerFlags    map[string]string
	APIServerManifest string
	APIServerErr      error
	// Growth is the revision growth rate seen (nil: GrowthErr says why).
	Growth    *Growth
	GrowthErr error
}

// compactor is one side's setting turned into the most history it lets
// accumulate at a given growth rate.
type compactor struct {
	on   bool
	text string
	// kept returns the revisions kept at the peak, just before a compaction.
	kept func(rate float64) float64
	// flag is the advice that keeps history to about want revisions.
	flag func(rate, want float64) string
}

func etcdCompactor(flags map[string]string, source string) (compactor, error) {
	mode, raw := flags["auto-compaction-mode"], flags["auto-compaction-retention"]
	if mode == "" {
		mode = "periodic"
	}
	if raw == "" || raw == "0" || raw == "0s" {
		return compactor{text: "etcd auto-compaction off"}, nil
	}
	where := ""
	if source != "" {
		where = " in " + source
	}
	switch mode {
	case "periodic":
		// A bare number is hours (etcd's own parsing of the flag).
		period, err := time.ParseDuration(raw)
		if h, herr := strconv.ParseInt(raw, 10, 64); herr == nil {
			period, err, raw = time.Duration(h)*time.Hour, nil, raw+"h"
		}
		if err != nil || period <= 0 {
			return compactor{}, fmt.Errorf("etcd --auto-compaction-retention=%q is not a duration or a number of hours", raw)
		}
		return compactor{on: true, text: "etcd periodic " + raw,
			kept: func(rate float64) float64 { return rate * (period + min(period, etcdPeriodicMaxInterval)).Seconds() },
			flag: func(rate, want float64) string {
				d := time.Duration(want / rate / 2 * float64(time.Second)).Truncate(time.Minute)
				return fmt.Sprintf("lower etcd's --auto-compaction-retention to %s%s", max(d, time.Minute), where)
			}}, nil
	case "revision":
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n <= 0 {
			return compactor{}, fmt.Errorf("etcd --auto-compaction-retention=%q is not a number of revisions", raw)
		}
		return compactor{on: true, text: "etcd revision " + raw,
			kept: func(rate float64) float64 { return float64(n) + rate*etcdRevisionInterval.Seconds() },
			flag: func(rate, want float64) string {
				return fmt.Sprintf("lower etcd's --auto-compaction-retention to %d revisions%s", max(int64(want-rate*etcdRevisionInterval.Seconds()), 1000), where)
			}}, nil
	}
	return compactor{}, fmt.Errorf("etcd --auto-compaction-mode=%q is neither periodic nor revision", mode)
}

func apiServerCompactor(flags map[string]string, manifest string) (compactor, error) {
	raw, set := flags["etcd-compaction-interval"]
	iv := APIServerCompactionDefault
	text := "apiserver every 5m0s (default)"
	if set {
		d, err := time.ParseDuration(raw)
		if err != nil || d < 0 {
			return compactor{}, fmt.Errorf("kube-apiserver --etcd-compaction-interval=%q is not a duration", raw)
		}
		iv, text = d, "apiserver every "+d.String()
	}
	if iv == 0 {
		return compactor{text: "apiserver compaction off (--etcd-compaction-interval=" + raw + ")"}, nil
	}
	return compactor{on: true, text: text,
		// It compacts to the revision it saw one interval earlier: up to
		// two intervals of history at the peak.
		kept: func(rate float64) float64 { return rate * 2 * iv.Seconds() },
		flag: func(rate, want float64) string {
			d := time.Duration(want / rate / 2 * float64(time.Second)).Truncate(time.Minute)
			return fmt.Sprintf("lower kube-apiserver's --etcd-compaction-interval to %s in %s", max(d, time.Minute), manifest)
		}}, nil
}

// enableAdvice names both flags that switch compaction on.
func enableAdvice(in CompactionInput) string {
	api := "kube-apiserver's manifest"
	if in.APIServerManifest != "" {
		api = in.APIServerManifest
	}
	etcd := "etcd's manifest"
	if in.EtcdSource != "" {
		etcd = in.EtcdSource
	}
	return fmt.Sprintf("set --etcd-compaction-interval=5m on kube-apiserver (%s, or remove its =0), or --auto-compaction-mode=periodic --auto-compaction-retention=1h on etcd (%s)", api, etcd)
}

// checkCompaction sets etcd's --auto-compaction-* and kube-apiserver's
// --etcd-compaction-interval against the revision growth rate: the history
// kept between two compactions is rate × the effective interval revisions,
// each about the in-use size per key; nothing compacting means the quota is
// reached at that rate.
func (d *judge) checkCompaction(in CompactionInput) { d.add(JudgeCompaction(in, d.t)) }

// JudgeCompaction is the compaction finding.
func JudgeCompaction(in CompactionInput, t Thresholds) Finding {
	f := Finding{ID: CompactionID, Threshold: fmt.Sprintf("history between compactions warn ≥ %.0f%%, crit ≥ %.0f%% of the quota; nothing compacting: crit when the quota is reached within %s",
		t.CompactionWarn*100, t.CompactionCrit*100, humanDuration(t.CompactionETACrit))}
	unknown := func(observed, why string) Finding {
		f.Severity, f.Observed, f.Short, f.Explanation = Unknown, observed, "compaction unknown", why
		return f
	}
	switch {
	case in.EtcdFlags == nil && in.EtcdErr != nil:
		return unknown(in.EtcdErr.Error(), "etcd's manifest or config file could not be read, so the compaction settings are unknown")
	case in.EtcdFlags == nil:
		return unknown("no etcd manifest or config", "no etcd manifest or config file was read, so the compaction settings are unknown")
	}
	etcd, err := etcdCompactor(in.EtcdFlags, in.EtcdSource)
	if err != nil {
		return unknown(err.Error(), "etcd's compaction flags could not be read")
	}
	sides := []compactor{etcd}
	parts := []string{etcd.text}
	if in.APIServerFlags != nil {
		api, err := apiServerCompactor(in.APIServerFlags, in.APIServerManifest)
		if err != nil {
			return unknown(err.Error(), "kube-apiserver's compaction flag could not be read")
		}
		sides, parts = append(sides, api), append(parts, api.text)
	} else if in.APIServerErr != nil {
		parts = append(parts, "apiserver unknown ("+in.APIServerErr.Error()+")")
	} else {
		parts = append(parts, "apiserver unknown")
	}
	g := in.Growth
	if g != nil {
		parts = append(parts, fmt.Sprintf("%.1f rev/s over %.0fs × ~%s per revision (%s; DB in use %s, %d keys, quota %s)",
			g.RevisionsPerSecond, g.WindowSeconds, humanize.Bytes(int64(g.BytesPerRevision())), g.SizeSource(), humanize.Bytes(g.DBSizeInUse), g.Keys, humanize.Bytes(g.Quota)))
	} else if in.GrowthErr != nil {
		parts = append(parts, "growth rate unknown: "+in.GrowthErr.Error())
	}
	f.Observed = strings.Join(parts, "; ")

	// The tightest compactor bounds the history.
	var best *compactor
	for i := range sides {
		if sides[i].on && (best == nil || g == nil || sides[i].kept(g.RevisionsPerSecond) < best.kept(g.RevisionsPerSecond)) {
			best = &sides[i]
		}
	}
	switch {
	case best == nil && in.APIServerFlags == nil:
		f.Severity, f.Short = Unknown, "etcd auto-compaction off"
		f.Explanation = "etcd does not compact by itself; kube-apiserver compacts every 5 minutes by default, but its manifest was not read"
		return f
	case best == nil:
		f.Severity, f.Short, f.Advice = Warn, "no compaction", enableAdvice(in)
		f.Explanation = "nothing compacts: every revision is kept until the DB reaches its quota and etcd raises NOSPACE"
		if g != nil && g.RevisionsPerSecond > 0 {
			eta := time.Duration(float64(max(g.Quota-g.DBSize, 0)) / (g.RevisionsPerSecond * g.BytesPerRevision()) * float64(time.Second))
			f.Short = "no compaction: quota in ~" + humanDuration(eta)
			f.Explanation = fmt.Sprintf("nothing compacts: at %.1f revisions/s (~%s/s) the DB reaches its quota in about %s and etcd raises NOSPACE",
				g.RevisionsPerSecond, humanize.Bytes(int64(g.RevisionsPerSecond*g.BytesPerRevision())), humanDuration(eta))
			if eta < t.CompactionETACrit {
				f.Severity = Crit
			}
		}
		return f
	case g == nil:
		f.Severity, f.Short = Unknown, "growth rate unknown"
		f.Explanation = "compaction is on, but without the revision growth rate the history it keeps cannot be set against the quota"
		return f
	}
	kept := best.kept(g.RevisionsPerSecond)
	bytes := kept * g.BytesPerRevision()
	share := bytes / float64(max(g.Quota, 1))
	f.Observed += fmt.Sprintf("; %s keeps up to %.0f revisions (~%s, %.1f%% of the quota)", best.text, kept, humanize.Bytes(int64(bytes)), share*100)
	switch {
	case share >= t.CompactionCrit:
		f.Severity = Crit
	case share >= t.CompactionWarn:
		f.Severity = Warn
	default:
		f.Severity, f.Explanation = OK, "old revisions are compacted before their history takes much of the quota"
		return f
	}
	f.Short = fmt.Sprintf("history %.0f%% of quota", share*100)
	f.Explanation = fmt.Sprintf("at %.1f revisions/s the history kept between compactions alone takes %.0f%% of the quota: with the live data and free pages the DB reaches NOSPACE", g.RevisionsPerSecond, share*100)
	// Advice: the setting that keeps the history to half the warning level.
	want := t.CompactionWarn / 2 * float64(g.Quota) / max(g.BytesPerRevision(), 1)
	f.Advice = best.flag(g.RevisionsPerSecond, math.Max(want, 1))
	return f
}

func humanDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%.0fd", d.Hours()/24)
	case d >= 2*time.Hour:
		return fmt.Sprintf("%.0fh", d.Hours())
	case d >= 2*time.Minute:
		return fmt.Sprintf("%.0fm", d.Minutes())
	}
	return d.Round(time.Second).String()
}
