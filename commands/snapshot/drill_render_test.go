package snapshot

import (
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	snap "github.com/etcdmedic/etcdmedic/snapshot"
)

// A drill of a snapshot whose metadata has no source HashKV (a plain save
// DIR) says so instead of showing a source hash of 00000000.
func TestRenderDrillSourceHashKV(t *testing.T) {
	for _, c := range []struct {
		expected uint32
		want     string
	}{
		{0, "HashKV 0000abcd (the source's not recorded)"},
		{0xabcd, "HashKV 0000abcd (source 0000abcd)"},
	} {
		io, out, _ := iostreams.Test()
		renderDrill(io, &snap.DrillResult{Snapshot: "s.db", Matched: true, StartSeconds: 0.1, HashKV: 0xabcd, ExpectedHashKV: c.expected})
		if !strings.Contains(out.String(), c.want) {
			t.Errorf("expected HashKV %08x: %q; want %q", c.expected, out.String(), c.want)
		}
	}
}
