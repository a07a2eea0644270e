package keyscope

import (
	"sort"
	"strings"
	"testing"
)

// The Scoper must visit every key exactly once, whatever the layout: pages
// are simulated over a sorted key list the way etcd answers a limited range.
func TestScoperVisitsEveryKeyOnce(t *testing.T) {
	keys := []string{"/a", "/calico/x/1", "/calico/x/2", "/calico/y", "/registry/configmaps/ns1/c", "/registry/pods/ns1/a",
		"/registry/pods/ns1/b", "/registry/pods/ns1/c", "/registry/pods/ns2/a", "/registry/pods/ns3/a", "/registry/pods/ns3/b",
		"/registry/pods/zz", "/registry/pods/ns1", "/registry/pods/ns1!x", "/registry/pods/ns1/\xff", "/registry/pods-extra/ns1/a", "/registry/z", "/zzz/1", "compact_rev_key", "z/1"}
	sort.Strings(keys)
	for _, tc := range []struct{ prefix, end, start string }{
		{"", "\x00", "\x00"},
		{"/registry/", "/registry0", "/registry/"},
		{"/registry/pods/", "/registry/pods0", "/registry/pods/"},
	} {
		for _, limit := range []int{1, 2, 3, 100} {
			var seen []string
			requests := 0
			sc := New(tc.prefix, tc.end, tc.start)
			for {
				requests++
				if requests > 1000 {
					t.Fatal("no progress")
				}
				from, end := sc.Cursor(), sc.End()
				var page []string
				more := false
				for _, k := range keys {
					if k < from || (end != "\x00" && k >= end) {
						continue
					}
					if len(page) == limit {
						more = true
						break
					}
					page = append(page, k)
				}
				seen = append(seen, page...)
				last := ""
				if len(page) > 0 {
					last = page[len(page)-1]
				}
				if !sc.Advance(last, more) {
					break
				}
			}
			var want []string
			for _, k := range keys {
				if strings.HasPrefix(k, tc.prefix) {
					want = append(want, k)
				}
			}
			if strings.Join(seen, ",") != strings.Join(want, ",") {
				t.Fatalf("prefix %q limit %d: visited\n%v\nwant\n%v", tc.prefix, limit, seen, want)
			}
		}
	}
}
