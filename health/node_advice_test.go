package health

import (
	"context"
	"strings"
	"testing"
)

// doctor --node's advice pastes as a command that does something different
// from the run that gave it: a placeholder where the node's own path is
// needed (not kubeadm's default, which this run already tried), this run's
// thresholds and connection carried.
func TestNodeAdviceCarriesThisRunsFlags(t *testing.T) {
	th, _ := Resolve("", nil)
	r := DiagnoseNode(context.Background(), NodeOptions{Thresholds: th, Connection: "--endpoints h:1",
		Rerun: []string{"--set", "fsync.warn=20ms"}})
	want := map[string]string{
		"node.fdatasync":  "etcdmedic doctor --node --set fsync.warn=20ms --data-dir '<etcd data dir>' --endpoints h:1",
		"node.certExpiry": "etcdmedic doctor --node --set fsync.warn=20ms --manifest '<etcd manifest>' --endpoints h:1",
	}
	for _, f := range r.Findings {
		if w, ok := want[f.ID]; ok {
			if !strings.HasSuffix(f.Advice, w) {
				t.Errorf("%s advice %q, want it to end %q", f.ID, f.Advice, w)
			}
			delete(want, f.ID)
		}
	}
	if len(want) > 0 {
		t.Errorf("no finding for %v", want)
	}
}
