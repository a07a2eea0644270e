package health

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// 9. Consistency: HashKV of every voter at one revision. Hashes of members
// with the same compact revision must be equal; otherwise a member's data
// differs (the same rule etcd's own corruption check uses).
func (d *diagnosis) checkConsistency(ctx context.Context, snap *cluster.Snapshot) {
	type hashed struct {
		m              cluster.Member
		rev, compacted int64
		hash           uint32
		err            error
	}
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
	// One revision all voters have: the lowest current revision among them.
	rctx, cancel := d.c.WithCommandTimeout(ctx)
	defer cancel()
	var rev int64
	for _, m := range voters {
		cli, err := d.c.Client(rctx, m.Endpoint)
		if err != nil {
			continue
		}
		resp, err := cli.Get(rctx, "health", withCountOnly()...)
		if err == nil && (rev == 0 || resp.Header.Revision < rev) {
			rev = resp.Header.Revision
		}
	}
	if rev == 0 {
		d.add(Finding{ID: "consistency.hashkv", Severity: Unknown, Observed: "n/a", Explanation: "no voter told its current revision"})
		return
	}
	results := make([]hashed, len(voters))
	var wg sync.WaitGroup
	for i, m := range voters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hctx, cancel := d.c.WithCommandTimeout(ctx)
			defer cancel()
			results[i] = hashed{m: m, rev: rev}
			cli, err := d.c.Client(hctx, m.Endpoint)
			if err != nil {
				results[i].err = err
				return
			}
			resp, err := cli.HashKV(hctx, m.Endpoint, rev)
			if err != nil {
				results[i].err = err
				return
			}
			results[i].hash, results[i].compacted = resp.Hash, resp.CompactRevision
		}()
	}
	wg.Wait()
	byCompact := map[int64]map[uint32][]string{}
	for _, r := range results {
		if r.err != nil {
			d.add(d.member(r.m, Finding{ID: "consistency.hashkv", Severity: Unknown, Observed: r.err.Error(),
				Explanation: "HashKV failed (it needs the root role when auth is on)"}))
			continue
		}
		if byCompact[r.compacted] == nil {
			byCompact[r.compacted] = map[uint32][]string{}
		}
		byCompact[r.compacted][r.hash] = append(byCompact[r.compacted][r.hash], r.m.Label())
	}
	for compacted, hashes := range byCompact {
		f := Finding{ID: "consistency.hashkv", Severity: OK, Observed: fmt.Sprintf("revision %d (compacted at %d): one hash", rev, compacted),
			Explanation: "every voter holds the same data"}
		if len(hashes) > 1 {
			var parts []string
			for h, who := range hashes {
				parts = append(parts, fmt.Sprintf("%08x on %s", h, strings.Join(who, ",")))
			}
			sort.Strings(parts)
			f.Severity = Crit
			f.Observed = fmt.Sprintf("revision %d: %s", rev, strings.Join(parts, "; "))
			f.Explanation = "members with the same compaction hold different data: possible corruption"
			f.Advice = "stop writing through the odd member; snapshot a member in the majority (etcdmedic snapshot save --from <member>) and rebuild the odd one from scratch"
		}
		d.add(f)
	}
}

// 10. Versions and settings.
func (d *diagnosis) checkVersions(snap *cluster.Snapshot) {
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

	if l := d.c.Config.Local; l != nil {
		gates := l.Flags["feature-gates"]
		on := strings.Contains(gates, "StopGRPCServiceOnDefrag=true") || l.Flags["experimental-stop-grpc-service-on-defrag"] == "true"
		f := Finding{ID: "settings.stopGRPCServiceOnDefrag", Severity: OK, Observed: map[bool]string{true: "on", false: "off"}[on],
			Explanation: "with it on (etcd 3.6+), a defragmenting member reports NOT_SERVING on gRPC health so health-checking clients route around it"}
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

func withCountOnly() []clientv3.OpOption {
	return []clientv3.OpOption{clientv3.WithCountOnly(), clientv3.WithKeysOnly()}
}
