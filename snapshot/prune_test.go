package snapshot

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 22, 12, 30, 0, 0, time.UTC)

// set builds entries of one cluster at the given ages (hours ago); verified
// unless listed in unverified.
func set(ages []float64, unverified ...int) []Entry {
	var es []Entry
	for i, h := range ages {
		at := now.Add(-time.Duration(h * float64(time.Hour)))
		es = append(es, Entry{
			Path: fmt.Sprintf("etcd-0000000000000001-%d-%s.db", 1000-i, at.Format(timeLayout)), ClusterID: "0000000000000001",
			Revision: int64(1000 - i), Created: at, Size: 100, Verified: !slices.Contains(unverified, i),
		})
	}
	return es
}

func deleted(ds []Decision) []int64 {
	var out []int64
	for _, d := range ds {
		if !d.Keep {
			out = append(out, d.Revision)
		}
	}
	slices.Sort(out)
	return out
}

func TestPlan(t *testing.T) {
	hourly := []float64{0.1, 0.4, 1.2, 1.5, 2.1, 3.2, 26, 27, 50, 200, 400}
	cases := []struct {
		name    string
		entries []Entry
		p       Policy
		want    []int64 // revisions deleted
	}{
		{"keep-last 3", set(hourly), Policy{KeepLast: 3}, []int64{990, 991, 992, 993, 994, 995, 996, 997}},
		{"keep-last larger than set", set(hourly[:3]), Policy{KeepLast: 10}, nil},
		// hour 12: 1000, 999; hour 11: 998, 997; hour 10: 996 — the newest of each is kept
		{"keep-hourly 3", set(hourly), Policy{KeepHourly: 3}, []int64{990, 991, 992, 993, 994, 995, 997, 999}},
		// days: 11-22 (0..5), 11-21 (6,7), 11-20 (8), 11-14 (9), 11-05 (10)
		{"keep-daily 2", set(hourly), Policy{KeepDaily: 2}, []int64{990, 991, 992, 993, 995, 996, 997, 998, 999}},
		{"keep-weekly 2", set(hourly), Policy{KeepWeekly: 2}, []int64{990, 992, 993, 994, 995, 996, 997, 998, 999}},
		{"rules add up", set(hourly), Policy{KeepLast: 1, KeepDaily: 3}, []int64{990, 991, 993, 995, 996, 997, 998, 999}},
		// 11 × 100 bytes: the 7 oldest go to get to 400 ≤ 450
		{"max-total-size only, oldest go first", set(hourly), Policy{MaxTotalSize: 450}, []int64{990, 991, 992, 993, 994, 995, 996}},
		{"max-total-size trims kept ones", set(hourly), Policy{KeepLast: 5, MaxTotalSize: 250}, []int64{990, 991, 992, 993, 994, 995, 996, 997, 998}},
		// 999, 998, 997 are younger than 2 h; 996 (2.1 h) is not
		{"min-age protects young ones", set(hourly), Policy{KeepLast: 1, MinAge: 2 * time.Hour}, []int64{990, 991, 992, 993, 994, 995, 996}},
		// never delete the newest verified: the two newest are unverified, so rev 998 survives keep-last 1
		{"never delete newest verified", set(hourly, 0, 1), Policy{KeepLast: 1}, []int64{990, 991, 992, 993, 994, 995, 996, 997, 999}},
		{"newest verified survives max-total-size 0 room", set(hourly[:4]), Policy{MaxTotalSize: 1}, []int64{997, 998, 999}},
		{"no verified snapshot: nothing protected", set(hourly[:3], 0, 1, 2), Policy{KeepLast: 1}, []int64{998, 999}},
		{"empty set", nil, Policy{KeepLast: 1}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds := Plan(tc.entries, tc.p, now)
			if got := deleted(ds); !slices.Equal(got, tc.want) {
				for _, d := range ds {
					t.Logf("rev %d %s keep=%v %v", d.Revision, d.Created.Format(time.RFC3339), d.Keep, d.Reasons)
				}
				t.Fatalf("deleted %v, want %v", got, tc.want)
			}
			for _, d := range ds {
				if len(d.Reasons) == 0 {
					t.Errorf("rev %d has no reason", d.Revision)
				}
			}
		})
	}
}

// Whatever the policy, the newest verified snapshot of each cluster survives.
func TestPlanNeverDeletesNewestVerifiedPerCluster(t *testing.T) {
	a := set([]float64{1, 2, 3}, 0)
	b := set([]float64{0.5, 5})
	for i := range b {
		b[i].ClusterID = "0000000000000002"
		b[i].Path = "b" + b[i].Path
	}
	policies := []Policy{{KeepLast: 1}, {MaxTotalSize: 1}, {KeepHourly: 1}, {KeepWeekly: 1, MaxTotalSize: 1}}
	for _, p := range policies {
		ds := Plan(append(a, b...), p, now)
		kept := map[string]bool{}
		for _, d := range ds {
			if d.Keep {
				kept[d.Path] = true
			}
		}
		if !kept[a[1].Path] || !kept[b[0].Path] {
			t.Errorf("policy %+v deleted a newest verified snapshot: %v", p, kept)
		}
	}
}

func TestParseName(t *testing.T) {
	n := FileName(0x3f2a4f4c2d6a3b1e, 1234, now, true)
	if n != "etcd-3f2a4f4c2d6a3b1e-1234-20261122T123000.000Z.db.zst" {
		t.Fatal(n)
	}
	got, ok := ParseName(n)
	if !ok || got.Revision != 1234 || !got.Created.Equal(now) || !got.Compressed || got.ClusterID != "3f2a4f4c2d6a3b1e" {
		t.Fatalf("%+v %v", got, ok)
	}
	// Names from before milliseconds were added still count as snapshots.
	if old, ok := ParseName("etcd-3f2a4f4c2d6a3b1e-1234-20261122T123000Z.db"); !ok || !old.Created.Equal(now) {
		t.Fatalf("second-precision name: %+v %v", old, ok)
	}
	if ms, ok := ParseName(FileName(1, 1, now.Add(7*time.Millisecond), false)); !ok || ms.Created.Sub(now) != 7*time.Millisecond {
		t.Fatalf("millisecond name: %+v %v", ms, ok)
	}
	for _, other := range []string{"snapshot.db", "etcd-3f2a-1-20261122T123000Z.db", n + ".meta.json", ".etcdmedic-snapshot-1.db.part", "etcd-3f2a4f4c2d6a3b1e-1234-20261122T123000Z.db.bak"} {
		if _, ok := ParseName(other); ok {
			t.Errorf("%s parsed as a snapshot name", other)
		}
	}
}

// A time more than FutureSkew ahead of now is no age at all: the snapshot
// is kept, marked, and takes no --keep-last slot, no bucket, no share of
// --max-total-size, and is never the newest verified. Within the skew
// allowance a time is taken at its word.
func TestPlanFutureDated(t *testing.T) {
	es := set([]float64{1, 2, 3})
	es = append(es,
		Entry{Path: "etcd-0000000000000001-2000-far.db", ClusterID: "0000000000000001", Revision: 2000, Created: now.Add(24 * time.Hour), Size: 100, Verified: true},
		Entry{Path: "etcd-0000000000000001-1500-near.db", ClusterID: "0000000000000001", Revision: 1500, Created: now.Add(FutureSkew + time.Second), Size: 100, Verified: true},
		Entry{Path: "etcd-0000000000000001-1100-skew.db", ClusterID: "0000000000000001", Revision: 1100, Created: now.Add(FutureSkew - time.Second), Size: 100, Verified: true},
	)
	for _, p := range []Policy{{KeepLast: 1}, {KeepHourly: 1}, {MaxTotalSize: 150}, {KeepLast: 2, MaxTotalSize: 250}} {
		ds := Plan(es, p, now)
		byRev := map[int64]Decision{}
		for _, d := range ds {
			byRev[d.Revision] = d
		}
		for _, rev := range []int64{2000, 1500} {
			if d := byRev[rev]; !d.Keep || !d.Future || d.newestVerified {
				t.Errorf("%+v: future-dated rev %d: keep %v future %v newest %v", p, rev, d.Keep, d.Future, d.newestVerified)
			}
		}
		if d := byRev[1100]; !d.Keep || d.Future || !d.newestVerified {
			t.Errorf("%+v: rev 1100 (within the skew allowance) keep %v future %v newest %v %v", p, d.Keep, d.Future, d.newestVerified, d.Reasons)
		}
		if got := deleted(ds); p.KeepLast == 1 && !slices.Equal(got, []int64{998, 999, 1000}) {
			t.Errorf("%+v: deleted %v", p, got)
		}
		if got := deleted(ds); p.KeepLast == 2 && !slices.Equal(got, []int64{998, 999}) {
			t.Errorf("%+v: deleted %v; want 1000 kept (2 × 100 bytes fit 250; the future ones do not count)", p, got)
		}
	}
}
