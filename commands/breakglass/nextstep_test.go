package breakglass

import (
	"strings"
	"testing"
	"time"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
)

// Next steps carry what is needed to run them as printed, never a password.
func TestNextStepCarriesTheFlagsInEffectButNoPassword(t *testing.T) {
	given := map[string]bool{"endpoints": true, "cacert": true, "cert": true, "key": true, "user": true, "password": true, "command-timeout": true}
	cfg, err := cluster.Resolve(cluster.Inputs{Endpoints: []string{"https://10.0.0.1:2379", "https://10.0.0.2:2379"}, CACert: "/pki/ca.crt", Cert: "/pki/c.crt", Key: "/pki/c.key",
		User: "root:s3cret-pw", Password: "s3cret-pw", DialTimeout: cluster.DefaultDialTimeout, CommandTimeout: 30 * time.Second, Manifest: cluster.DefaultManifest,
		Set: func(f string) bool { return given[f] }, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	n := nextStep{layout: LayoutFlags{Root: "/mnt/cp 2", StateDir: "/srv/state", QuarantineDir: "/etc/kubernetes/etcdmedic-disabled"}, conn: cfg.ConnectionArgs}
	undo := n.command("breakglass", "undo", "--pods")
	for _, want := range []string{"etcdmedic breakglass undo --pods", "--root '/mnt/cp 2'", "--state-dir /srv/state", "--endpoints https://10.0.0.1:2379,https://10.0.0.2:2379",
		"--cacert /pki/ca.crt", "--cert /pki/c.crt", "--key /pki/c.key", "--user root", "--command-timeout 30s"} {
		if !strings.Contains(undo, want) {
			t.Errorf("%q lacks %q", undo, want)
		}
	}
	for _, never := range []string{"s3cret", "--password", "--quarantine-dir", "--dial-timeout"} {
		if strings.Contains(undo, never) {
			t.Errorf("%q carries %q", undo, never)
		}
	}
	// A file-only step gets the layout, not the connection.
	if c := n.command("breakglass", "apiserver", "--localhost"); strings.Contains(c, "--endpoints") || !strings.Contains(c, "--state-dir /srv/state") {
		t.Errorf("apiserver next step %q", c)
	}
	// survivors reads the disks it names and keeps no journal: no --root of
	// this run beside them, no --state-dir/--quarantine-dir (it has neither
	// flag), no connection; a step naming its own --root keeps only that one.
	if c := n.command("breakglass", "survivors", "--root", "/mnt/a", "--root", "/mnt/b"); c != "etcdmedic breakglass survivors --root /mnt/a --root /mnt/b" {
		t.Errorf("survivors next step %q", c)
	}
	if c := n.command("breakglass", "etcd-only", "--root", "/mnt/a"); c != "etcdmedic breakglass etcd-only --root /mnt/a --state-dir /srv/state" {
		t.Errorf("etcd-only on another disk: %q", c)
	}
	// Outside breakglass: the connection only.
	if c := n.command("defrag", "--compact"); strings.Contains(c, "--root") || !strings.Contains(c, "--endpoints") {
		t.Errorf("defrag next step %q", c)
	}
}

// After a force, the next step names the first lost member's two commands
// (by name, whatever etcd's order; its old name and peer URLs, the run's
// flags; a member that is this one or has no name left out), and the table
// lists the rest below it.
func TestForceNewRejoinSteps(t *testing.T) {
	n := nextStep{conn: func() []string { return []string{"--endpoints", "https://10.0.0.1:2379"} }}
	v := &ForceNewView{ForceNewReport: &bg.ForceNewReport{Done: true, OldMembers: []bg.OldMember{
		{ID: "1", Name: "cp-1", PeerURLs: []string{"https://10.0.0.1:2380"}, Self: true},
		{ID: "3", Name: "cp-3", PeerURLs: []string{"https://10.0.0.3:2380", "https://[fd00::3]:2380"}},
		{ID: "4", PeerURLs: []string{"https://10.0.0.4:2380"}},
		{ID: "2", Name: "cp-2", PeerURLs: []string{"https://10.0.0.2:2380"}},
	}}, Undo: "etcdmedic breakglass undo"}
	v.rejoinSteps(n)
	add2 := "etcdmedic member add cp-2 --peer-urls https://10.0.0.2:2380 --endpoints https://10.0.0.1:2379"
	promote2 := "etcdmedic member promote cp-2 --wait 30m --endpoints https://10.0.0.1:2379"
	add3 := "etcdmedic member add cp-3 --peer-urls 'https://10.0.0.3:2380,https://[fd00::3]:2380' --endpoints https://10.0.0.1:2379" // quoted: [ ] would glob
	if len(v.Rejoin) != 2 || v.Rejoin[0].Add != add2 || v.Rejoin[0].Promote != promote2 || v.Rejoin[1].Add != add3 || v.Undo != "" {
		t.Fatalf("rejoin %+v, undo %q", v.Rejoin, v.Undo)
	}
	if !strings.Contains(v.Next, add2+", start it with the flags that prints, then "+promote2+"; then the next (below)") {
		t.Fatalf("next %q", v.Next)
	}
	ios, out, _ := iostreams.Test()
	printRejoin(ios, v.Rejoin)
	if want := "  then cp-3: " + add3 + ", start it, then etcdmedic member promote cp-3 --wait 30m --endpoints https://10.0.0.1:2379\n"; out.String() != want {
		t.Fatalf("table lines %q, want %q", out.String(), want)
	}
	alone := &ForceNewView{ForceNewReport: &bg.ForceNewReport{Done: true, OldMembers: []bg.OldMember{{ID: "1", Name: "cp-1", Self: true}}}}
	alone.rejoinSteps(n)
	if want := "grow the cluster back one member at a time, each on an empty data dir: etcdmedic member add NAME --peer-urls URL --endpoints https://10.0.0.1:2379"; alone.Next != want || alone.Rejoin != nil {
		t.Fatalf("with no lost member: next %q, rejoin %+v", alone.Next, alone.Rejoin)
	}
}
