package snapshot_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	snap "github.com/etcdmedic/etcdmedic/snapshot"
)

// list and prune read names (and metadata) only: files named as save names
// them are enough to render both at 80 columns.
func TestListAndPruneFit80Columns(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for i := 0; i < 3; i++ {
		name := snap.FileName(0x3f2a4f4c2d6a3b1e, int64(100000+i), now.Add(-time.Duration(i)*time.Hour), false)
		if err := os.WriteFile(filepath.Join(dir, name), []byte("not a real database"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"snapshot", "list", dir}, {"snapshot", "prune", dir, "--keep-last", "1"}} {
		ios, out, errOut := iostreams.Test()
		ios.SetWidth(80)
		code := commands.Execute(t.Context(), args, ios, func(string) string { return "" })
		t.Logf("%v -> %d\n%s%s", args, code, out.String(), errOut.String())
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		for _, l := range lines {
			if output.Cells(l) > 80 {
				t.Fatalf("%v: a line of %d cells: %q", args, output.Cells(l), l)
			}
		}
		if !strings.Contains(lines[0], "FILE") || !strings.Contains(out.String(), "etcd-3f2a4f4c2d6a3b1e-100000-") {
			t.Fatalf("%v: the file column is gone:\n%s", args, out.String())
		}
	}
}
