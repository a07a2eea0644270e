package commands_test

import (
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
)

// Every numeric flag rejects NaN, Inf, overflow and out-of-range values with
// exit 64 and one line, before anything connects (no cluster is running:
// the endpoint is a closed port, so a command that got as far as dialling
// would exit 3, not 64).
func TestBadNumericFlagValuesAreUsageErrors(t *testing.T) {
	const ep = "http://127.0.0.1:1"
	bad := map[string][]string{
		"defrag": {
			"--lock-ttl=99999999999", "--lock-ttl=4", "--lock-ttl=-1", "--lock-ttl=NaN",
			"--lock-key=", "--member-timeout=0s", "--member-timeout=-1s", "--member-timeout=1000000h",
			"--recovery-timeout=0", "--wait-between=-1s", "--compact-keep-revisions=-1",
			"--compact-keep-revisions=99999999999999999999", "--max-apply-lag=0", "--max-apply-lag=-1",
			"--disarm-threshold=NaN", "--disarm-threshold=Inf", "--disarm-threshold=-Inf", "--disarm-threshold=0",
			"--disarm-threshold=1", "--disarm-threshold=1e300", "--slow-disk-fsync-p99=0s", "--slow-disk-fsync-p99=-5ms",
			"--metrics-file=/nonexistent/dir/defrag.prom",
		},
		"doctor": {
			"--window=0", "--window=0s", "--window=-1s", "--window=1e300h", "--window=NaNs", "--watch=-1s",
			"--set=quota.warn=NaN", "--set=quota.warn=Inf", "--set=quota.warn=2", "--set=fsync.warn=-1ms",
			"--set=applyGap.warn=-1", "--set=applyGap.warn=99999999999999999999", "--set=frag.minInUse=NaN",
			"--preset=nope",
		},
		"status":    {"--set=quota.crit=NaN", "--set=frag.ratio=-0.1", "--preset=nope"},
		"inventory": {"--max-rps=NaN", "--max-rps=Inf", "--max-rps=-1", "--page-size=0", "--page-size=-5", "--top=0"},
	}
	global := []string{"--dial-timeout=0s", "--dial-timeout=-1s", "--command-timeout=0", "--command-timeout=NaNs", "--dial-timeout=1e300h"}
	for cmd, flags := range bad {
		for _, f := range append(flags, global...) {
			res := clitest.Run(t, nil, cmd, f, "--endpoints", ep)
			lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
			if res.Code != 64 || !strings.HasPrefix(lines[0], "Error: ") {
				t.Errorf("etcdmedic %s %s: exit %d, stderr %q; want 64 and one Error: line", cmd, f, res.Code, res.Stderr)
			}
		}
	}
}
