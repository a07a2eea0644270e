package member_test

import (
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
)

// Bad input is refused before anything connects (the endpoint answers
// nothing): exit 64 and one line saying why.
func TestBadInputWithoutACluster(t *testing.T) {
	nowhere := []string{"--endpoints", "http://127.0.0.1:1"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"member", "add", "m4", "--peer-urls", "127.0.0.1:2380"}, "not a URL"},
		{[]string{"member", "add", "m4", "--peer-urls", "ftp://127.0.0.1:2380"}, "scheme must be http or https"},
		{[]string{"member", "add", "m4", "--peer-urls", "http://127.0.0.1"}, "needs a host and a port"},
		{[]string{"member", "add", "m=4", "--peer-urls", "http://127.0.0.1:2380"}, "no '='"},
		{[]string{"member", "add", "m4"}, "--peer-urls is required"},
		{[]string{"member", "add"}, "accepts 1 arg"},
		{[]string{"member", "promote"}, "accepts 1 arg"},
		{[]string{"member", "promote", "m4", "--wait", "-1s"}, "--wait must not be negative"},
		{[]string{"member", "remove", "a", "b"}, "accepts 1 arg"},
		{[]string{"member", "remove", "m4", "--agree-timeout", "0s"}, "--agree-timeout must be positive"},
		{[]string{"member", "move-leader", "extra"}, "unknown command"},
		{[]string{"member", "move-leader", "--agree-timeout", "0s"}, "--agree-timeout must be positive"},
		{[]string{"member", "lst"}, "unknown command"},
	} {
		res := clitest.Run(t, nil, append(c.args, nowhere...)...)
		if res.Code != 64 || !strings.Contains(res.Stderr, c.want) || strings.Count(res.Stderr, "Error:") != 1 || strings.Contains(res.Stderr, "127.0.0.1:1") {
			t.Errorf("%v: exit %d, want 64 with %q and no connection:\n%s", c.args, res.Code, c.want, res.Stderr)
		}
	}
}
