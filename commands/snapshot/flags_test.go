package snapshot_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	snapshotcmd "github.com/etcdmedic/etcdmedic/commands/snapshot"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
)

// usageError asserts exit 64 and one error line (plus cobra's usage hint).
func usageError(t *testing.T, args ...string) {
	t.Helper()
	res := clitest.Run(t, nil, args...)
	lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
	if res.Code != 64 || !strings.HasPrefix(lines[0], "Error: ") || len(lines) > 2 || (len(lines) == 2 && !strings.HasPrefix(lines[1], "Run 'etcdmedic ")) {
		t.Fatalf("%v: exit %d, stderr %q; want 64 and a one-line error", args, res.Code, res.Stderr)
	}
	if res.Stdout != "" {
		t.Fatalf("%v: printed %q", args, res.Stdout)
	}
}

// Flag and usage errors, found before anything connects: no cluster here
// (the endpoint is a closed port, so reaching for it would be exit 3).
func TestSnapshotUsageErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such.db")
	// A file that is there, so that only the flag check can say 64.
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte("not a snapshot"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"snapshot", "verify"},
		{"snapshot", "verify", missing},
		{"snapshot", "list", dir, dir},
		{"snapshot", "list", filepath.Join(dir, "no-such-dir")},
		{"snapshot", "list", dir, "-o", "xml"},
		{"snapshot", "prune", dir},
		{"snapshot", "prune"},
		{"snapshot", "prune", dir, "--keep-last", "-1"},
		{"snapshot", "prune", dir, "--keep-last", "many"},
		{"snapshot", "prune", dir, "--max-total-size", "10Zebras"},
		{"snapshot", "prune", dir, "--max-total-size", "-1Gi"},
		{"snapshot", "prune", dir, "--keep-daily", "7", "--min-age", "soon"},
		{"snapshot", "prune", dir, "--keep-daily", "7", "--min-age", "-1h"},
		{"snapshot", "save", dir, "extra", "--endpoints", "http://127.0.0.1:1"},
		{"snapshot", "save", dir, "--stall-timeout", "never", "--endpoints", "http://127.0.0.1:1"},
		{"snapshot", "save", dir, "--prune-keep-last", "-3", "--endpoints", "http://127.0.0.1:1"},
		{"snapshot", "restore", missing},
		{"snapshot", "restore", missing, "--data-dir", dir, "--bump-revision", "0", "--mark-compacted"},
		{"snapshot", "restore", missing, "--data-dir", dir, "--bump-revision", "lots"},
		{"snapshot", "restore", missing, "--data-dir", filepath.Join(dir, "new")},
		// Numbers that would mean something else than they say: a stall
		// timeout that falls back to another, a size that wraps to "no
		// limit" or reads "milli" as a byte, a count or age past its type.
		{"snapshot", "save", dir, "--stall-timeout", "-1s", "--endpoints", "http://127.0.0.1:1"},
		{"snapshot", "save", dir, "--from", "", "--endpoints", "http://127.0.0.1:1"},
		{"snapshot", "save", dir, "--stall-timeout", "0s", "--endpoints", "http://127.0.0.1:1"},
		{"snapshot", "save", dir, "--max-lag", "-1", "--endpoints", "http://127.0.0.1:1"},
		{"snapshot", "save", dir, "--max-lag", "18446744073709551616", "--endpoints", "http://127.0.0.1:1"},
		{"snapshot", "save", dir, "--prune-keep-last", "1", "--prune-max-total-size", "1e300", "--endpoints", "http://127.0.0.1:1"},
		{"snapshot", "save", dir, "--prune-min-age", "-1s", "--prune-keep-last", "1", "--endpoints", "http://127.0.0.1:1"},
		{"snapshot", "prune", dir, "--keep-last", "1", "--max-total-size", "NaN"},
		{"snapshot", "prune", dir, "--keep-last", "1", "--max-total-size", "Inf"},
		{"snapshot", "prune", dir, "--keep-last", "1", "--max-total-size", "1e300"},
		{"snapshot", "prune", dir, "--keep-last", "1", "--max-total-size", "1e19"},
		{"snapshot", "prune", dir, "--keep-last", "1", "--max-total-size", "9223372036854775808"},
		{"snapshot", "prune", dir, "--keep-last", "1", "--max-total-size", "16Ei"},
		{"snapshot", "prune", dir, "--keep-last", "1", "--max-total-size", "1m"},
		{"snapshot", "prune", dir, "--keep-last", "1", "--max-total-size", "0.5"},
		{"snapshot", "prune", dir, "--keep-last", "99999999999999999999"},
		{"snapshot", "prune", dir, "--keep-hourly", "NaN"},
		{"snapshot", "prune", dir, "--keep-daily", "Inf"},
		{"snapshot", "prune", dir, "--keep-weekly", "-2"},
		{"snapshot", "prune", dir, "--keep-last", "1", "--min-age", "1e300h"},
		{"snapshot", "prune", dir, "--keep-last", "1", "--min-age", "NaNh"},
		{"snapshot", "prune", dir, "--keep-last", "1", "--min-age", "Infh"},
		{"snapshot", "prune", dir, "--keep-last", "1", "--min-age", "200000000h"},
		{"snapshot", "restore", junk, "--data-dir", filepath.Join(dir, "new"), "--bump-revision", "18446744073709551615"},
		{"snapshot", "restore", junk, "--data-dir", filepath.Join(dir, "new"), "--bump-revision", "4611686018427387904"},
		{"snapshot", "restore", missing, "--data-dir", filepath.Join(dir, "new"), "--bump-revision", "9223372036854775807", "--plan", "--initial-cluster", "m1=http://127.0.0.1:2380"},
		{"snapshot", "restore", missing, "--data-dir", filepath.Join(dir, "new"), "--bump-revision", "-1"},
		// Where the run would write is checked before it connects (a closed
		// port here: reaching for it would be exit 3).
		{"snapshot", "save", dir, "--metrics-file", filepath.Join(dir, "no-such-dir", "snap.prom"), "--endpoints", "http://127.0.0.1:1"},
		{"snapshot", "save", dir, "--metrics-file", dir, "--endpoints", "http://127.0.0.1:1"},
		{"snapshot", "save", filepath.Join(dir, "no-such-dir") + "/", "--endpoints", "http://127.0.0.1:1"},
		{"snapshot", "save", filepath.Join(dir, "no-such-dir", "snap.db"), "--endpoints", "http://127.0.0.1:1"},
		{"snapshot", "save", filepath.Join(dir, "snap.db"), "--compress", "--endpoints", "http://127.0.0.1:1"},
	} {
		usageError(t, args...)
	}
}

// The defaults live in the options structs: a command line without flags
// parses to exactly them.
func TestSnapshotOptionDefaults(t *testing.T) {
	ios, _, _ := iostreams.Test()
	f := cmdutil.NewFactory(ios, func(string) string { return "" })
	var gotRestore *snapshotcmd.RestoreOptions
	cmd := snapshotcmd.NewCmdRestore(f, func(_ context.Context, o *snapshotcmd.RestoreOptions) error { gotRestore = o; return nil })
	cmd.SetArgs([]string{"snap.db", "--data-dir", "/d"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	want := snapshotcmd.NewRestoreOptions().Restore
	want.File, want.DataDir = "snap.db", "/d"
	if !reflect.DeepEqual(gotRestore.Restore, want) || gotRestore.Plan {
		t.Fatalf("restore parsed to %+v, want %+v", gotRestore.Restore, want)
	}

	var gotPrune *snapshotcmd.PruneOptions
	cmd = snapshotcmd.NewCmdPrune(f, func(_ context.Context, o *snapshotcmd.PruneOptions) error { gotPrune = o; return nil })
	cmd.SetArgs([]string{"/backups", "--keep-daily", "7", "--max-total-size", "1Gi"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if gotPrune.Dir != "/backups" || gotPrune.Policy.KeepDaily != 7 || gotPrune.Policy.MaxTotalSize != 1<<30 || gotPrune.Yes || gotPrune.Policy.KeepLast != 0 {
		t.Fatalf("prune parsed to %+v", gotPrune)
	}

	var gotList *snapshotcmd.ListOptions
	cmd = snapshotcmd.NewCmdList(f, func(_ context.Context, o *snapshotcmd.ListOptions) error { gotList = o; return nil })
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if gotList.Dir != "." {
		t.Fatalf("list's default dir %q", gotList.Dir)
	}
}
