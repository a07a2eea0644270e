package snapshot

import (
	"bytes"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/internal/promfile"
	"github.com/etcdmedic/etcdmedic/internal/promfile/promfiletest"
)

func TestMetricsParseAndLint(t *testing.T) {
	now := time.Now()
	m := RunMetrics{Success: true, Finished: now, Duration: 2 * time.Second, Pruned: 1,
		Save: &SaveResult{Metadata: &Metadata{Size: 4096, Revision: 42}, BytesPerSecond: 1e6},
		Dir:  []Entry{{Size: 4096, Verified: true, Created: now.Add(-time.Minute)}, {Size: 100, Created: now}}}
	var b bytes.Buffer
	if err := promfile.Encode(&b, Metrics(m).Registry()); err != nil {
		t.Fatal(err)
	}
	fams := promfiletest.Parse(t, b.Bytes())
	val := func(name string) float64 { return fams[name].GetMetric()[0].GetGauge().GetValue() }
	if val("etcdmedic_snapshot_revision") != 42 || val("etcdmedic_snapshot_directory_bytes") != 4196 ||
		val("etcdmedic_snapshot_last_success_timestamp_seconds") != float64(now.Add(-time.Minute).Unix()) {
		t.Errorf("metrics:\n%s", b.String())
	}
	promfiletest.Check(t, b.Bytes())
}
