package snapshot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
	snap "github.com/etcdmedic/etcdmedic/snapshot"
)

// save → verify → restore → a real etcd on the restored dir serves every key
// and value the source had at the snapshot's revision; plain and compressed.
func TestSaveVerifyRestoreRoundTrip(t *testing.T) {
	bins := playgroundtest.ReleaseBinaries(t)
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 300, ConfigMaps: 60, Events: 300, Leases: 10, PodPadding: 500})
	cli := playgroundtest.Client(t, c)
	ctx := context.Background()
	for i := 0; i < 50; i++ { // history: overwrites and deletes
		if _, err := cli.Put(ctx, fmt.Sprintf("/x/%d", i%10), strings.Repeat("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Delete(ctx, "/x/3"); err != nil {
		t.Fatal(err)
	}
	getenv := env(c)
	dir := t.TempDir()

	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			args := []string{dir}
			if compress {
				args = append(args, "--compress")
			}
			out := save(t, getenv, args...)
			md := out.Save.Metadata
			// The name, the mode, the metadata.
			n, ok := snap.ParseName(filepath.Base(out.Save.Path))
			if !ok || n.Compressed != compress || n.Revision != md.Revision || n.ClusterID != md.ClusterID {
				t.Fatalf("file name %s does not match metadata %+v", out.Save.Path, md)
			}
			for _, p := range []string{out.Save.Path, snap.MetaPath(out.Save.Path)} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s has mode %o, want 0600", p, fi.Mode().Perm())
				}
			}
			if !md.Verified || md.RaftIndex == 0 || md.TotalKeys < 600 || md.EtcdVersion == "" || md.SHA256 == "" {
				t.Errorf("metadata incomplete: %+v", md)
			}
			// A follower by default.
			ldr, err := c.Leader(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if out.Save.Source.MemberID == cluster.FormatID(ldr.ID()) {
				t.Errorf("snapshot taken from the leader %s; a follower was expected", ldr.Name)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".etcdmedic-snapshot-*")); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}

			r := clitest.Run(t, nil, "snapshot", "verify", out.Save.Path, "-o", "json")
			if r.Code != 0 {
				t.Fatalf("verify exit %d", r.Code)
			}
			var vr struct{ Snapshots []snap.VerifyResult }
			if err := json.Unmarshal([]byte(r.Stdout), &vr); err != nil {
				t.Fatal(err)
			}
			if v := vr.Snapshots[0]; v.Integrity != "ok" || v.Metadata != "ok" || v.Revision != md.Revision || v.TotalKeys != md.TotalKeys {
				t.Fatalf("verify: %+v", v)
			}
			// A local file is never encrypted: said so, with an empty list.
			var raw struct{ Snapshots []map[string]any }
			json.Unmarshal([]byte(r.Stdout), &raw)
			if rc, ok := raw.Snapshots[0]["recipients"].([]any); raw.Snapshots[0]["encrypted"] != false || raw.Snapshots[0]["decrypted"] != false || !ok || len(rc) != 0 {
				t.Fatalf("verify -o json: encrypted %v, decrypted %v, recipients %v", raw.Snapshots[0]["encrypted"], raw.Snapshots[0]["decrypted"], raw.Snapshots[0]["recipients"])
			}

			want := dump(t, cli, md.Revision)
			dataDir := filepath.Join(t.TempDir(), "restored")
			peer := fmt.Sprintf("http://127.0.0.1:%d", playgroundtest.FreePort(t))
			r = clitest.Run(t, nil, "snapshot", "restore", out.Save.Path, "--data-dir", dataDir, "--name", "r1",
				"--initial-cluster", "r1="+peer, "--initial-advertise-peer-urls", peer)
			if r.Code != 0 {
				t.Fatalf("restore exit %d", r.Code)
			}
			rcli := playgroundtest.ServeDataDir(t, bins[latest(bins, "v3.7")].Etcd, dataDir, "r1", peer)
			got := dump(t, rcli, 0)
			delete(got, "health-probe")
			equalMaps(t, got, want)
			// The revision was bumped past anything the old cluster handed out.
			resp, err := rcli.Get(ctx, "/x/0")
			if err != nil {
				t.Fatal(err)
			}
			if resp.Header.Revision < md.Revision+snap.DefaultRevisionBump {
				t.Errorf("restored revision %d, want ≥ %d + bump", resp.Header.Revision, md.Revision)
			}
			// Old revisions are compacted: watchers relist instead of missing events.
			if _, err := rcli.Get(ctx, "/x/0", clientv3WithRev(md.Revision)...); err == nil || !strings.Contains(err.Error(), "compacted") {
				t.Errorf("read at the old revision: %v, want compacted", err)
			}
		})
	}

	t.Run("list", func(t *testing.T) {
		r := clitest.Run(t, nil, "snapshot", "list", dir, "-o", "json")
		var lr struct{ Snapshots []snap.Entry }
		if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &lr) != nil || len(lr.Snapshots) != 2 {
			t.Fatalf("list: exit %d, %d snapshots", r.Code, len(lr.Snapshots))
		}
		for _, e := range lr.Snapshots {
			if e.State != snap.StateVerified || e.ClusterID == "" || e.Revision == 0 {
				t.Errorf("list entry %+v", e)
			}
		}
		if r := clitest.Run(t, nil, "snapshot", "list", dir); r.Code != 0 || !strings.Contains(r.Stdout, "verified") {
			t.Errorf("list table: exit %d", r.Code)
		}
	})

	t.Run("restore refuses a non-empty data dir", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(dir, "etcd-*.db"))
		dd := t.TempDir()
		if err := os.WriteFile(filepath.Join(dd, "keep"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := clitest.Run(t, nil, "snapshot", "restore", files[0], "--data-dir", dd)
		if r.Code != 4 || !strings.Contains(r.Stderr, "not empty") {
			t.Fatalf("exit %d, want 4 with 'not empty'", r.Code)
		}
		if des, _ := os.ReadDir(dd); len(des) != 1 {
			t.Errorf("data dir changed: %d entries", len(des))
		}
	})

	t.Run("plan from the live cluster", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(dir, "etcd-*.db"))
		r := clitest.Run(t, getenv, "snapshot", "restore", files[0], "--plan", "--data-dir", "/var/lib/etcd-restored", "-o", "json")
		var pr struct{ Members []snap.PlanStep }
		if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &pr) != nil || len(pr.Members) != 3 {
			t.Fatalf("plan: exit %d, %d members", r.Code, len(pr.Members))
		}
		for i, s := range pr.Members {
			m := c.Member(i)
			if s.Name != m.Name || s.PeerURLs[0] != m.PeerURL || !strings.Contains(s.Command, "--bump-revision 1000000000 --mark-compacted") {
				t.Errorf("plan step %+v for member %s %s", s, m.Name, m.PeerURL)
			}
		}
	})

	t.Run("cron: save, prune and metrics in one step", func(t *testing.T) {
		metrics := filepath.Join(t.TempDir(), "snap.prom")
		if _, err := cli.Put(ctx, "/x/cron", "1"); err != nil { // a new revision, so a new name
			t.Fatal(err)
		}
		out := save(t, getenv, dir, "--prune-keep-last", "1", "--metrics-file", metrics)
		if out.Prune == nil || len(out.Prune.Deleted) != 2 {
			t.Fatalf("prune deleted %v, want the 2 older snapshots", out.Prune)
		}
		left, _ := filepath.Glob(filepath.Join(dir, "etcd-*"))
		if len(left) != 2 || left[0] != out.Save.Path && left[1] != out.Save.Path {
			t.Fatalf("left %v, want only %s and its metadata", left, out.Save.Path)
		}
		f, err := os.Open(metrics)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(f)
		if err != nil {
			t.Fatalf("metrics file does not parse: %v", err)
		}
		val := func(name string) float64 { return fams[name].GetMetric()[0].GetGauge().GetValue() }
		if val("etcdmedic_snapshot_success") != 1 || val("etcdmedic_snapshot_revision") != float64(out.Save.Metadata.Revision) ||
			val("etcdmedic_snapshot_pruned_files") != 2 || val("etcdmedic_snapshot_files") != 1 ||
			time.Since(time.Unix(int64(val("etcdmedic_snapshot_last_success_timestamp_seconds")), 0)) > time.Hour {
			t.Errorf("metrics: %v", fams)
		}
	})
}

func latest(bins map[string]playgroundtest.ReleaseBinary, line string) string {
	best := ""
	for v := range bins {
		if strings.HasPrefix(v, line+".") && v > best {
			best = v
		}
	}
	return best
}
