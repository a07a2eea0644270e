// Package exporter turns health's findings and the sample they were judged
// on into Prometheus series: `etcdmedic exporter` serves them on every scrape
// (cheap checks, bounded, cached), `doctor --metrics-file` writes them once.
// Alert rules (package alerts) are written over these names.
package exporter

import (
	"math"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/internal/promfile"
	"github.com/etcdmedic/etcdmedic/snapshot"
)

// Series names: a contract with the generated alert rules and dashboards.
const (
	Finding            = "etcdmedic_finding"
	DBSize             = "etcdmedic_db_size_bytes"
	DBInUse            = "etcdmedic_db_in_use_bytes"
	DBReclaimable      = "etcdmedic_db_reclaimable_bytes"
	DBQuota            = "etcdmedic_db_quota_bytes"
	QuotaETA           = "etcdmedic_quota_eta_seconds"
	QuorumMargin       = "etcdmedic_quorum_margin"
	Voters             = "etcdmedic_voters"
	VotersReachable    = "etcdmedic_voters_reachable"
	MemberUp           = "etcdmedic_member_up"
	SnapshotAge        = "etcdmedic_snapshot_age_seconds"
	ChecksTimestamp    = "etcdmedic_checks_timestamp_seconds"
	ScrapeDuration     = "etcdmedic_scrape_duration_seconds"
	ScrapeErrors       = "etcdmedic_scrape_errors_total"
	SnapshotDirErrors  = "etcdmedic_snapshot_dir_error"
	ChecksDurationHelp = "How long the last run of the checks took."
)

// Input is one judged sample and what goes with it.
type Input struct {
	Findings []health.Finding
	// Sample is what the findings were judged on; nil when no member list came back.
	Sample *cluster.Sample
	// Growth is each member's DB growth rate in bytes per second (member ID →
	// rate), from earlier samples; a member without an entry gets no ETA.
	Growth map[uint64]float64
	// SnapshotDir, when set, is listed for the newest verified snapshot.
	SnapshotDir string
	Now         time.Time
}

// Build makes the series of one judged sample. Only findings that need
// attention become etcdmedic_finding series: a check that is ok has none,
// so a fixed problem's series disappears and `etcdmedic_finding` alerts resolve.
func Build(in Input) *promfile.Set {
	s := promfile.New()
	f := s.Gauge(Finding, "1 for each finding that needs attention (warn, crit or unknown), by check id, member name and severity.", "check", "member", "severity")
	for _, fd := range in.Findings {
		if fd.Severity == health.OK {
			continue
		}
		f.Set(1, fd.ID, memberLabel(fd.MemberName, fd.Member), fd.Severity.String())
	}
	s.Gauge(ChecksTimestamp, "Unix time the checks behind these series ran.").Set(float64(in.Now.Unix()))
	if snap := in.Sample; snap != nil {
		sample(s, snap, in.Growth)
	}
	if in.SnapshotDir != "" {
		snapshotAge(s, in.SnapshotDir, in.Now)
	}
	return s
}

func sample(s *promfile.Set, snap *cluster.Sample, growth map[uint64]float64) {
	up := s.Gauge(MemberUp, "1 if the member answered Status within --command-timeout.", "member")
	size := s.Gauge(DBSize, "Physical size of the member's database file (what the quota counts).", "member")
	inUse := s.Gauge(DBInUse, "Bytes of the member's database in use; the rest is reclaimable by defragmenting.", "member")
	free := s.Gauge(DBReclaimable, "Bytes a defragmentation would give back on this member (DB size - in use).", "member")
	quota := s.Gauge(DBQuota, "The member's backend quota in bytes.", "member")
	eta := s.Gauge(QuotaETA, "Seconds until the member's DB reaches its quota at the growth rate seen between samples; +Inf when not growing.", "member")
	for _, st := range snap.Members {
		name := memberLabel(st.Member.Name, st.Member.IDString())
		up.Set(promfile.Bool(st.OK()), name)
		if !st.OK() {
			continue
		}
		sz, used := st.Status.GetDbSize(), st.Status.GetDbSizeInUse()
		size.Set(float64(sz), name)
		inUse.Set(float64(used), name)
		free.Set(float64(sz-used), name)
		if st.Quota > 0 {
			quota.Set(float64(st.Quota), name)
			if rate, ok := growth[st.Member.ID]; ok {
				eta.Set(ETA(sz, st.Quota, rate), name)
			}
		}
	}
	q := snap.QuorumState()
	s.Gauge(Voters, "Voting members in the member list.").Set(float64(q.Voters))
	s.Gauge(VotersReachable, "Voting members that answered Status.").Set(float64(q.Reachable))
	s.Gauge(QuorumMargin, "Voting members that can be lost before quorum is (reachable voters - quorum); negative when quorum is lost.").Set(float64(q.Reachable - q.Needed))
}

// ETA is how long until size reaches quota at rate bytes per second: 0 when
// already there, +Inf when the DB is not growing.
func ETA(size, quota int64, rate float64) float64 {
	switch {
	case size >= quota:
		return 0
	case rate <= 0:
		return math.Inf(1)
	}
	return float64(quota-size) / rate
}

// snapshotAge is the age of the newest verified snapshot: +Inf when there is
// none, so "too old" alerts fire on an empty directory too.
func snapshotAge(s *promfile.Set, dir string, now time.Time) {
	bad := s.Gauge(SnapshotDirErrors, "1 if the snapshot directory could not be listed.", "dir")
	entries, err := snapshot.List(dir, now)
	if err != nil {
		bad.Set(1, dir)
		return
	}
	bad.Set(0, dir)
	age := math.Inf(1)
	for _, e := range entries {
		// A verified snapshot dated ahead of the clock is not fresh: it would
		// keep a "too old" alert quiet forever.
		if e.Verified && !e.Created.After(now) {
			age = math.Min(age, now.Sub(e.Created).Seconds())
		}
	}
	s.Gauge(SnapshotAge, "Age of the newest verified snapshot in the directory; +Inf when there is none.", "dir").Set(age, dir)
}

// memberLabel is the member's name, or its ID for a member that has none
// (added, never started).
func memberLabel(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

// WriteReport writes a doctor report's series to a textfile, atomically.
func WriteReport(path string, r *health.Report, snapshotDir string) error {
	s := Build(Input{Findings: r.Findings, Sample: r.Sample, SnapshotDir: snapshotDir, Now: r.Started})
	s.Gauge(ScrapeDuration, ChecksDurationHelp).Set(r.TookSeconds)
	return promfile.WriteSet(path, s)
}
