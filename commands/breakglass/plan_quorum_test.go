package breakglass_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestPlanKnowsQuorumLoss(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	root := fixtureRoot(t)
	args := []string{"breakglass", "plan", "--manifest-dir", filepath.Join(root, "etc/kubernetes/manifests"), "--state-dir", filepath.Join(root, "state"), "--endpoints", c.Member(0).ClientURL}
	r := clitest.Run(t, playgroundtest.Env(), args...)
	if r.Code != 0 || strings.Contains(r.Stdout, "survivors") || !strings.Contains(r.Stdout, "1. [next] Stop every control-plane component") {
		t.Fatalf("with quorum: exit %d; want the usual runbook", r.Code)
	}
	for _, m := range c.Members()[1:] {
		if err := m.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	r = clitest.Run(t, playgroundtest.Env(), args...)
	for _, want := range []string{"1 of 3 voters answer", "1. [next] Bring members back etcd-only", "breakglass survivors --root", "breakglass force-new-cluster", "member add", "member promote", "breakglass probes --relax", "breakglass defrag-offline"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("quorum lost: plan lacks %q", want)
		}
	}
	if !strings.Contains(r.Stdout, "--endpoints "+c.Member(0).ClientURL) {
		t.Error("the runbook's commands do not carry the connection flags")
	}
}
