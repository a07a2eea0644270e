package breakglass_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
)

// Every numeric flag of the breakglass steps: NaN, Inf, overflow and values
// out of range are usage errors (64) before anything is read or changed. An
// age that overflowed a duration used to turn the --older-than filter off,
// so the dry run matched every pod.
func TestBreakglassNumericFlagsRejectNaNInfOverflowAndOutOfRange(t *testing.T) {
	root := fixtureRoot(t)
	before := snapshotFiles(t, root)
	ramp := []string{"ramp", "--to", "100", "--interval", "20s"}
	cases := map[string][][]string{
		"purge-pods": {
			{"--older-than", "200000d"}, {"--older-than", "1e300d"}, {"--older-than", "NaNd"}, {"--older-than", "Infd"},
			{"--older-than", "+Infd"}, {"--older-than", "-1d"}, {"--older-than", "0x10d"}, {"--older-than", "36501d"},
			{"--older-than", "2562048h"}, {"--older-than", "99999999999999h"}, {"--older-than", "-5h"},
			{"--rate", "NaN"}, {"--rate", "Inf"}, {"--rate", "-Inf"}, {"--rate", "-1"}, {"--rate", "1e400"},
			{"--page-size", "0"}, {"--page-size", "-1"}, {"--page-size", "10001"}, {"--page-size", "99999999999999999999"},
		},
		"ramp": {
			{"--to", "0"}, {"--to", "-1"}, {"--to", "2147483648"}, {"--to", "99999999999999999999"},
			{"--to-mutating", "-1"}, {"--to-mutating", "2147483648"},
			{"--steps", "0"}, {"--steps", "101"}, {"--steps", "1000000000"},
			{"--interval", "25h"}, {"--interval", "-1s"}, {"--interval", "9999999999h"},
			{"--fsync-p99", "NaN"}, {"--fsync-p99", "Inf"}, {"--fsync-p99", "0"}, {"--fsync-p99", "-0.1"},
			{"--apply-gap", "0"}, {"--apply-gap", "-1"}, {"--apply-gap", "99999999999999999999999"},
		},
		"apiserver": {
			{"--max-requests-inflight", "0"}, {"--max-requests-inflight", "2147483648"}, {"--max-requests-inflight", "NaN"},
			{"--max-mutating-requests-inflight", "0"}, {"--max-mutating-requests-inflight", "-5"},
		},
		"etcd-only": {
			{"--wait", "-1s"}, {"--wait", "2h"}, {"--wait", "NaNs"},
		},
	}
	for cmd, bad := range cases {
		for _, args := range bad {
			argv := []string{"breakglass", cmd}
			switch cmd {
			case "ramp":
				argv = append([]string{"breakglass"}, ramp...)
			case "apiserver":
				argv = append(argv, "--localhost")
			}
			argv = append(append(argv, args...), "--root", root, "--dry-run")
			r := clitest.Run(t, noEtcd, argv...)
			if r.Code != 64 || !strings.HasPrefix(r.Stderr, "Error: ") || !strings.Contains(r.Stderr, strings.TrimPrefix(args[0], "--")) {
				t.Errorf("%s %v: exit %d, stderr %q; want 64 naming the flag", cmd, args, r.Code, r.Stderr)
			}
		}
	}
	if !same(before, snapshotFiles(t, root)) {
		t.Fatal("files changed")
	}
	// The edges themselves are accepted.
	for _, args := range [][]string{{"purge-pods", "--older-than", "36500d"}, {"purge-pods", "--older-than", "1.5d"}, {"purge-pods", "--page-size", "10000"}, {"purge-pods", "--rate", "0"}} {
		r := clitest.Run(t, noEtcd, append([]string{"breakglass"}, append(args, "--root", root, "--dry-run")...)...)
		if r.Code == 64 {
			t.Errorf("%v refused: %s", args, r.Stderr)
		}
	}
}

// An --archive that exists is refused before etcd is read: archives are
// never overwritten, it may hold the only copy of pods an earlier purge
// deleted.
func TestPurgeArchiveThatExistsIsRefusedBeforeAnythingIsRead(t *testing.T) {
	root := fixtureRoot(t)
	archive := filepath.Join(t.TempDir(), "purge.archive")
	if err := os.WriteFile(archive, []byte("an earlier purge's pods"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"--yes", "--dry-run"} {
		r := clitest.Run(t, noEtcd, "breakglass", "purge-pods", "--root", root, "--archive", archive, mode)
		if r.Code != 64 || !strings.Contains(r.Stderr, "never overwritten") {
			t.Errorf("%s: exit %d, stderr %q; want 64 saying archives are never overwritten", mode, r.Code, r.Stderr)
		}
	}
	if data, _ := os.ReadFile(archive); string(data) != "an earlier purge's pods" {
		t.Fatal("the archive changed")
	}
}
