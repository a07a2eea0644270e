// Package member changes etcd's membership one member at a time, each change
// behind a gate judged by health on a fresh sample: list, add (always as a
// learner), promote, remove, replace and move-leader. It never picks exit
// codes: errors carry internal/fault kinds (bad input Invalid, a gate's
// refusal Refused).
package member

import (
	"fmt"
	"sort"
	"strings"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// Resolve finds the member a person named by ID (hex, leading zeros
// optional), name or client URL. An unknown one is bad input: nothing can be
// done to a member that is not in the list.
func Resolve(ms *cluster.Membership, ref string) (cluster.Member, error) {
	if strings.TrimSpace(ref) == "" {
		return cluster.Member{}, fault.New(fault.Invalid, "no member given: name one by ID or name")
	}
	if m, ok := ms.Find(ref); ok {
		return m, nil
	}
	return cluster.Member{}, fault.New(fault.Invalid, fmt.Sprintf("no member %q in cluster %s (members: %s)", ref, cluster.FormatID(ms.ClusterID), describe(ms)))
}

func describe(ms *cluster.Membership) string {
	var parts []string
	for _, m := range ms.Members {
		if m.Name != "" {
			parts = append(parts, m.Name+" "+m.IDString())
		} else {
			parts = append(parts, m.IDString()+" (unstarted)")
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// statusOf is the member's row in a sample, nil when it is not in it.
func statusOf(snap *cluster.Sample, id uint64) *cluster.MemberStatus {
	for _, st := range snap.Members {
		if st.Member.ID == id {
			return st
		}
	}
	return nil
}

// leaderOf is the sample's leader, when a voter says it leads.
func leaderOf(snap *cluster.Sample) *cluster.MemberStatus {
	for _, st := range snap.Members {
		if !st.Member.IsLearner && st.IsLeader() {
			return st
		}
	}
	return nil
}
