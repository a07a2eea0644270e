package snapshot_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// With a follower SIGSTOPped, save takes another member and costs the hung
// one a single --command-timeout: the one-cluster check and the source
// probe wait for it side by side, not one after the other.
func TestSaveWithAHungFollower(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	hung := playgroundtest.PauseFollower(t, c)
	const timeout = 2 * time.Second
	r := clitest.Run(t, nil, "snapshot", "save", t.TempDir(), "-o", "json", "--endpoints", strings.Join(c.Endpoints(), ","), "--command-timeout", timeout.String())
	var out saveJSON
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil || r.Code != 0 {
		t.Fatalf("save with %s hung: exit %d, %v\n%s", hung.Name, r.Code, err, r.Stderr)
	}
	if out.Save.Source.Name == hung.Name || out.Save.Source.Name == "" {
		t.Fatalf("source %q with %s hung", out.Save.Source.Name, hung.Name)
	}
	if limit := timeout + 1500*time.Millisecond; r.Took > limit {
		t.Fatalf("save took %s with a hung follower, want at most %s (one --command-timeout)", r.Took, limit)
	}
}
