package inventory_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	inventorycmd "github.com/etcdmedic/etcdmedic/commands/inventory"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
)

// Flag errors are found before anything connects: the endpoint is a closed
// port, so reaching for it would be exit 3, not 64.
func TestInventoryUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--page-size", "0"},
		{"--page-size", "many"},
		{"--top", "0"},
		{"--max-rps", "-1"},
		{"--max-rps", "NaN"},
		{"--max-rps", "+Inf"},
		{"--keys-only=maybe"},
		{"/registry/pods"},
		{"-o", "xml"},
		{"--no-such-flag"},
	} {
		args = append([]string{"inventory", "--endpoints", "http://127.0.0.1:1"}, args...)
		res := clitest.Run(t, nil, args...)
		lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
		if res.Code != 64 || !strings.HasPrefix(lines[0], "Error: ") || len(lines) != 2 || res.Stdout != "" {
			t.Fatalf("%v: exit %d, stderr %q; want 64 and a one-line error", args, res.Code, res.Stderr)
		}
	}
}

func TestInventoryOptionDefaults(t *testing.T) {
	ios, _, _ := iostreams.Test()
	var got *inventorycmd.Options
	cmd := inventorycmd.NewCmdInventory(cmdutil.NewFactory(ios, func(string) string { return "" }),
		func(_ context.Context, o *inventorycmd.Options) error { got = o; return nil })
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if want := inventorycmd.NewInventoryOptions().Read; !reflect.DeepEqual(got.Read, want) || want.PageSize != 1000 || want.TopN != 10 {
		t.Fatalf("no flags parsed to %+v, want %+v", got.Read, want)
	}
}
