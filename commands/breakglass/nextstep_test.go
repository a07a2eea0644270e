package breakglass

import (
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
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
	// Outside breakglass: the connection only.
	if c := n.command("defrag", "--compact"); strings.Contains(c, "--root") || !strings.Contains(c, "--endpoints") {
		t.Errorf("defrag next step %q", c)
	}
}
