package health

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// 9. Consistency: HashKV of every voter at one revision. Hashes of members
// with the same compact revision must be equal; otherwise a member's data
// differs (the same rule etcd's own corruption check uses).
func (d *diagnosis) checkConsistency(ctx context.Context, snap *cluster.Sample) {
	var voters []cluster.Member
	for _, st := range snap.Members {
		if st.OK() && !st.Member.IsLearner {
			voters = append(voters, st.Member)
		}
	}
	if len(voters) < 2 {
		d.add(Finding{ID: "consistency.hashkv", Severity: Unknown, Observed: "n/a", Explanation: "fewer than two voters answer: nothing to compare"})
		return
	}
	hc, err := CompareHashes(ctx, d.c, voters)
	if err != nil {
		d.add(Finding{ID: "consistency.hashkv", Severity: Unknown, Observed: "n/a", Explanation: err.Error()})
		return
	}
	compared := 0
	for _, mh := range hc.Hashes {
		if mh.Err != nil {
			d.add(d.member(mh.Member, Finding{ID: "consistency.hashkv", Severity: Unknown, Observed: mh.Err.Error(),
				Explanation: "HashKV failed (it needs the root role when auth is on)"}))
			continue
		}
		compared++
	}
	if compared < 2 {
		return
	}
	f := Finding{ID: "consistency.hashkv", Severity: OK, Observed: fmt.Sprintf("revision %d: one hash", hc.Revision),
		Explanation: "every voter holds the same data"}
	if mm := hc.Mismatches(); len(mm) > 0 {
		f.Severity = Crit
		f.Observed = strings.Join(mm, "; ")
		f.Explanation = "members with the same compaction hold different data: possible corruption"
		f.Advice = "stop writing through the odd member; snapshot a member in the majority (" + d.cmd("snapshot save", "'<dir>'", "--from", "'<member in the majority>'") +
			") and rebuild the odd one from scratch"
	}
	d.add(f)
}

// 10. Versions and settings.
func (d *diagnosis) checkVersions(snap *cluster.Sample) {
	versions := map[string][]string{}
	for _, st := range snap.Members {
		if st.OK() {
			versions[st.Status.GetVersion()] = append(versions[st.Status.GetVersion()], st.Member.Label())
		}
	}
	if len(versions) == 0 {
		return
	}
	var parts []string
	for v, who := range versions {
		parts = append(parts, v+" on "+strings.Join(who, ","))
		if knownInconsistent(v) {
			d.add(Finding{ID: "versions.dataInconsistency", Severity: Crit, Observed: v + " on " + strings.Join(who, ","), Threshold: "not 3.5.0–3.5.5",
				Explanation: "etcd 3.5.0–3.5.5 have known data-inconsistency bugs (members can diverge after a crash)",
				Advice:      "upgrade to the newest 3.5 patch release, one member at a time"})
		}
	}
	sort.Strings(parts)
	f := Finding{ID: "versions.mixed", Severity: OK, Observed: strings.Join(parts, "; "), Explanation: "every member runs the same version"}
	if len(versions) > 1 {
		f.Severity = Warn
		f.Explanation = "members run different versions: fine during a rolling upgrade, a risk if left so"
		f.Advice = "finish the upgrade (or downgrade) on every member"
	}
	d.add(f)

	// The local member's command line, read from its kubeadm manifest: what
	// the API does not say. StopGRPCServiceOnDefrag (3.6+, off by default)
	// makes a defragmenting member report NOT_SERVING on the gRPC health
	// service, so clients that health-check route around the stall; context
	// for planning a defrag, not a fault either way.
	if l := d.c.Config.Local; l != nil {
		on := l.StopGRPCServiceOnDefrag()
		f := Finding{ID: "settings.stopGRPCServiceOnDefrag", Severity: OK, Observed: map[bool]string{true: "on", false: "off"}[on],
			Threshold:   "informational (from " + l.Manifest + ")",
			Explanation: "on (etcd 3.6+): a defragmenting member answers NOT_SERVING on gRPC health so health-checking clients avoid it; off: clients wait out the defrag"}
		if m, ok := d.ms.Find(l.Name); ok && l.Name != "" {
			f = d.member(m, f)
		}
		d.add(f)
	}
}

// knownInconsistent reports the etcd releases with known data-inconsistency bugs.
func knownInconsistent(v string) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) != 3 || parts[0] != "3" || parts[1] != "5" {
		return false
	}
	patch, err := strconv.Atoi(strings.SplitN(parts[2], "-", 2)[0])
	return err == nil && patch <= 5
}
