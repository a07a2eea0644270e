package doctor_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	doctorcmd "github.com/etcdmedic/etcdmedic/commands/doctor"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
)

// Flag errors are found before anything connects: the endpoint is a closed
// port, so reaching for it would be exit 3, not 64.
func TestDoctorUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--window", "soon"},
		{"--window", "-5s"},
		{"--watch", "-1s"},
		{"--watch", "often"},
		{"--all=maybe"},
		{"--set"},
		{"--set", "quota.warn=-10%"},
		{"--set", "compaction.warn=60%"}, // above compaction.crit's 50 %
		{"--set", "probes.margin=0"},
		{"--set", "compaction.etaCrit=soon"},
		{"now"},
		{"-o", "xml"},
	} {
		args = append([]string{"doctor", "--endpoints", "http://127.0.0.1:1"}, args...)
		res := clitest.Run(t, nil, args...)
		lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
		if res.Code != 64 || !strings.HasPrefix(lines[0], "Error: ") || len(lines) != 2 || res.Stdout != "" {
			t.Fatalf("%v: exit %d, stderr %q; want 64 and a one-line error", args, res.Code, res.Stderr)
		}
	}
}

func TestDoctorOptionDefaults(t *testing.T) {
	ios, _, _ := iostreams.Test()
	var got *doctorcmd.Options
	cmd := doctorcmd.NewCmdDoctor(cmdutil.NewFactory(ios, func(string) string { return "" }),
		func(_ context.Context, o *doctorcmd.Options) error { got = o; return nil })
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	want := doctorcmd.NewDoctorOptions()
	if got.Preset != want.Preset || got.Window != want.Window || got.Watch != 0 || got.All || got.Consistency || len(got.Overrides) != 0 {
		t.Fatalf("no flags parsed to %+v, want %+v", got, want)
	}
	if want.Preset != "upstream" || want.Window != 5*time.Second {
		t.Fatalf("defaults changed: %+v", want)
	}
}
