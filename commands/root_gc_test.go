package commands

import (
	"context"
	"testing"

	"github.com/etcdmedic/etcdmedic/internal/iostreams"
)

// status and version keep the start-up collector target; every other
// command gets the collector back before its work starts.
func TestStartupGCIsRestoredForLongCommands(t *testing.T) {
	for _, c := range []struct {
		args     []string
		restored bool
	}{
		{[]string{"version"}, false},
		{[]string{"status", "--endpoints", "http://127.0.0.1:1", "--dial-timeout", "50ms"}, false},
		{[]string{"inventory", "--endpoints", "http://127.0.0.1:1", "--dial-timeout", "50ms"}, true},
		{[]string{"snapshot", "verify", t.TempDir() + "/none.db"}, true},
	} {
		restored := false
		restoreGC = func() { restored = true }
		ios, _, _ := iostreams.Test()
		Execute(context.Background(), c.args, ios, func(string) string { return "" })
		if restored != c.restored {
			t.Errorf("%v: collector restored = %v, want %v", c.args, restored, c.restored)
		}
	}
	restoreGC = nil
}
