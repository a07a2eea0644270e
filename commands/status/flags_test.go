package status_test

import (
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// Flag and configuration errors are found before anything connects: the
// endpoint is a closed port, so reaching for it would be exit 3, not 64.
func TestStatusUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		args []string
	}{
		{nil, []string{"extra"}},
		{nil, []string{"-o", "xml"}},
		{nil, []string{"--dial-timeout", "soon"}},
		{nil, []string{"--command-timeout", "0"}},
		{nil, []string{"--command-timeout", "-1s"}},
		{nil, []string{"--cert", "client.crt"}},
		{nil, []string{"--preset", "gke"}},
		{nil, []string{"--set", "fsync=1ms"}},
		{nil, []string{"--set", "quota.warn=150%"}},
		{[]string{"ETCDCTL_DIAL_TIMEOUT", "abc"}, nil},
		{[]string{"ETCDCTL_COMMAND_TIMEOUT", "-5s"}, nil},
	} {
		args := append([]string{"status", "--endpoints", "http://127.0.0.1:1"}, tc.args...)
		var getenv func(string) string
		if tc.env != nil {
			getenv = playgroundtest.Env(tc.env...)
		}
		res := clitest.Run(t, getenv, args...)
		lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
		if res.Code != 64 || !strings.HasPrefix(lines[0], "Error: ") || len(lines) != 2 || res.Stdout != "" {
			t.Fatalf("%v %v: exit %d, stderr %q; want 64 and a one-line error", tc.env, args, res.Code, res.Stderr)
		}
	}
}
