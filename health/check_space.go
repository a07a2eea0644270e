package health

import (
	"fmt"
	"strconv"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/humanize"
)

// 6. Space: quota usage (etcd checks the quota against the physical file
// size, so free pages count), reclaimable bytes, and the quota itself.
func (d *judge) checkSpace(snap *cluster.Sample) {
	t := d.t
	for _, st := range snap.Members {
		m := st.Member
		if d.unknownFor("space.quota", st, "space") {
			continue
		}
		size, inUse := st.Status.GetDbSize(), st.Status.GetDbSizeInUse()
		free := size - inUse
		usage := st.QuotaUsage()

		q := Finding{ID: "space.quota",
			Observed:  fmt.Sprintf("%s of %s (%s, quota from %s)", humanize.Bytes(size), humanize.Bytes(st.Quota), humanize.Percent(usage), st.QuotaSource),
			Threshold: fmt.Sprintf("warn ≥ %s, crit ≥ %s", humanize.Percent(t.QuotaWarn), humanize.Percent(t.QuotaCrit))}
		switch {
		case st.QuotaSource == cluster.QuotaDisabled:
			q.Severity, q.Observed, q.Short = Warn, "quota disabled", "quota disabled"
			q.Explanation = "with no quota the database can grow until the disk is full, which is worse than NOSPACE"
			q.Advice = "set --quota-bytes on every member (8 GiB at most)"
		case usage >= t.QuotaCrit || hasAlarm(st, "NOSPACE"):
			q.Severity = Crit
			q.Short = "quota " + humanize.Percent(usage) + " ≥ " + humanize.Percent(t.QuotaCrit)
		case usage >= t.QuotaWarn:
			q.Severity = Warn
			q.Short = "quota " + humanize.Percent(usage) + " ≥ " + humanize.Percent(t.QuotaWarn)
		default:
			q.Severity, q.Explanation = OK, "room to grow"
		}
		if q.Severity != OK && q.Explanation == "" {
			q.Explanation = "at the quota etcd raises NOSPACE and rejects every write"
			if free >= size/4 {
				q.Advice = fmt.Sprintf("defragmenting reclaims %s: %s", humanize.Bytes(free), d.cmd("defrag", "--rule 'dbQuotaUsage >= "+ruleNumber(t.QuotaWarn)+"'"))
			} else {
				q.Advice = "little is reclaimable by defragmenting: find what fills the keyspace (" + d.cmd("inventory") + "), or raise --quota-bytes"
			}
		}
		d.add(d.member(m, q))

		frag := st.Fragmentation()
		f := Finding{ID: "space.fragmentation",
			Observed:  fmt.Sprintf("%s free of %s (%s reclaimable, %s in use)", humanize.Percent(frag), humanize.Bytes(size), humanize.Bytes(free), humanize.Bytes(inUse)),
			Threshold: fmt.Sprintf("warn ≥ %s free with ≥ %s in use", humanize.Percent(t.FragRatio), humanize.Bytes(t.FragMinInUse))}
		if frag >= t.FragRatio && inUse >= t.FragMinInUse {
			f.Severity = Warn
			f.Short = "frag " + humanize.Percent(frag) + " ≥ " + humanize.Percent(t.FragRatio)
			f.Explanation = "free pages count against the quota and make the file larger than the data; defragmenting gives them back"
			f.Advice = d.cmd("defrag", "--rule 'fragmentation >= "+ruleNumber(t.FragRatio)+"'") + "   # rolling, one member at a time, leader last; --dry-run shows the plan"
		} else {
			f.Severity, f.Explanation = OK, "not worth a defragmentation stall"
		}
		d.add(d.member(m, f))

		if st.Quota > t.QuotaMax {
			d.add(d.member(m, Finding{ID: "space.quotaSize", Severity: Warn, Observed: humanize.Bytes(st.Quota), Threshold: "≤ " + humanize.Bytes(t.QuotaMax),
				Explanation: "etcd suggests at most 8 GiB: larger databases make snapshots, defrags and member catch-up slow",
				Advice:      "keep the data small instead: " + d.cmd("inventory")}))
		}
	}
}

func hasAlarm(st *cluster.MemberStatus, typ string) bool {
	for _, a := range st.AlarmsOn(st.Member.ID) {
		if a == typ {
			return true
		}
	}
	return false
}

// ruleNumber writes a threshold into a defrag rule exactly: rounded, a rule
// printed for --set quota.warn=87.5% would skip members at 0.875–0.88 that
// this finding flags.
func ruleNumber(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
