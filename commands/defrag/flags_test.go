package defrag_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	defragcmd "github.com/etcdmedic/etcdmedic/commands/defrag"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
)

// Flag errors are found before anything connects: the endpoint is a closed
// port, so reaching for it would be exit 3, not 64.
func TestDefragUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--rule", "fragmentation >>= 0.5"},
		{"--rule", "fragmentation"},
		{"--rule", "size > 1"},
		{"--rule-preset", "aggressive"},
		{"--rule", "true", "--rule-preset", "mixin"},
		{"--member-timeout", "0"},
		{"--member-timeout", "soon"},
		{"--recovery-timeout", "-1m"},
		{"--wait-between", "-1s"},
		{"--lock-ttl", "2"},
		{"--lock-ttl", "a-minute"},
		{"--compact-keep-revisions", "-1"},
		{"--disarm-threshold", "1.5"},
		{"--disarm-threshold", "0"},
		{"--disarm-threshold", "NaN"},
		{"--max-apply-lag", "-1"},
		{"--dry-run=perhaps"},
		{"now"},
		{"-o", "xml"},
	} {
		args = append([]string{"defrag", "--endpoints", "http://127.0.0.1:1"}, args...)
		res := clitest.Run(t, nil, args...)
		lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
		if res.Code != 64 || !strings.HasPrefix(lines[0], "Error: ") || len(lines) != 2 || res.Stdout != "" {
			t.Fatalf("%v: exit %d, stderr %q; want 64 and a one-line error", args, res.Code, res.Stderr)
		}
	}
}

// The defaults live in NewDefragOptions; the flags show them.
func TestDefragOptionDefaults(t *testing.T) {
	ios, _, _ := iostreams.Test()
	var got *defragcmd.Options
	cmd := defragcmd.NewCmdDefrag(cmdutil.NewFactory(ios, func(string) string { return "" }),
		func(_ context.Context, o *defragcmd.Options) error { got = o; return nil })
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	want := defragcmd.NewDefragOptions().Run
	gotRun := got.Run
	if gotRun.Rule == nil || gotRun.Rule.Source != "true" {
		t.Fatalf("no --rule compiled to %+v, want every voter", gotRun.Rule)
	}
	gotRun.Rule = nil
	if !reflect.DeepEqual(gotRun, want) {
		t.Fatalf("no flags parsed to\n%+v\nwant\n%+v", gotRun, want)
	}
	if !want.MoveLeader || !want.Lock || want.LockTTL != 60 || want.MemberTimeout != 15*time.Minute || want.DisarmThreshold != 0.8 || want.Compact || want.DryRun {
		t.Fatalf("defaults changed: %+v", want)
	}
	if f := cmd.Flags().Lookup("lock-ttl"); f.DefValue != "60" {
		t.Fatalf("--lock-ttl shows default %q", f.DefValue)
	}
}
