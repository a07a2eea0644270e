package breakglass_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"sigs.k8s.io/yaml"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// etcdManifest is a kubeadm-like etcd static pod running member m from its
// playground data dir, in the cluster whose peers are given.
func etcdManifest(t *testing.T, m *playground.Member, initialCluster string) []byte {
	t.Helper()
	pod := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "etcd", "namespace": "kube-system", "labels": map[string]any{"component": "etcd", "tier": "control-plane"}},
		"spec": map[string]any{
			"hostNetwork": true,
			"containers": []any{map[string]any{
				"name":  "etcd",
				"image": "registry.k8s.io/etcd:3.7.3-0",
				"command": []string{"etcd",
					"--name=" + m.Name,
					"--data-dir=" + m.DataDir(),
					"--listen-client-urls=" + m.ClientURL,
					"--advertise-client-urls=" + m.ClientURL,
					"--listen-peer-urls=" + m.PeerURL,
					"--initial-advertise-peer-urls=" + m.PeerURL,
					"--initial-cluster=" + initialCluster,
					"--initial-cluster-token=etcdmedic-playground",
					"--heartbeat-interval=200",
					"--election-timeout=2000",
					"--snapshot-count=10000",
					"--log-level=warn",
				},
			}},
		},
	}
	b, err := yaml.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func etcdClient(t *testing.T, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// waitFor polls cond every 200 ms for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func members(cli *clientv3.Client, opts ...clientv3.OpOption) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ml, err := cli.MemberList(ctx, opts...)
	if err != nil {
		return 0, err
	}
	return len(ml.Members), nil
}

func count(t *testing.T, cli *clientv3.Client, prefix string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return r.Count
}

func putN(t *testing.T, cli *clientv3.Client, prefix string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("%s%04d", prefix, i), "v")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
}

func freeURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}

// TestForceNewClusterUnderANodeAgent runs member m1 of a three-member
// playground from a static-pod manifest under the playground's node agent
// (the kubelet's part, with the etcd release binary), then: refused while
// m2 and m3 can still form a quorum; after they are SIGKILLed and their data
// dirs deleted, forced into a one-member cluster serving every key, the
// manifest back byte-identical, a restart that does not force again, and the
// cluster grown back to three voters with equal HashKV.
func TestForceNewClusterUnderANodeAgent(t *testing.T) {
	var bin string
	for v, b := range playgroundtest.ReleaseBinaries(t) {
		if strings.HasPrefix(v, "v3.7.") {
			bin = b.Etcd
		}
	}
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	m1, m2, m3 := c.Member(0), c.Member(1), c.Member(2)
	var initial []string
	for _, m := range c.Members() {
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	all := etcdClient(t, c.Endpoints()...)
	putN(t, all, "/before/", 200)
	if err := m1.Stop(); err != nil {
		t.Fatal(err)
	}

	node := t.TempDir()
	manifests := filepath.Join(node, "manifests")
	state := filepath.Join(node, "state")
	if err := os.MkdirAll(manifests, 0o755); err != nil {
		t.Fatal(err)
	}
	orig := etcdManifest(t, m1, strings.Join(initial, ","))
	manifest := filepath.Join(manifests, "etcd.yaml")
	if err := os.WriteFile(manifest, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	agent, err := playground.StartNodeAgent(playground.NodeAgentOptions{ManifestDir: manifests, Binaries: map[string]string{"etcd": bin}, LogDir: filepath.Join(node, "logs")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(agent.Stop)
	local := etcdClient(t, m1.ClientURL)
	waitFor(t, time.Minute, "m1 under the agent rejoins", func() error { _, err := members(local); return err })

	args := []string{"breakglass", "force-new-cluster", "--manifest-dir", manifests, "--state-dir", state, "--endpoints", m1.ClientURL, "--wait", "2m"}
	env := playgroundtest.Env()

	// The old quorum is alive: refused, nothing changed.
	r := clitest.Run(t, env, append(args, "--yes")...)
	if r.Code != 4 || !strings.Contains(r.Stderr, "another member of the old cluster answers") {
		t.Fatalf("with m2 and m3 up: exit %d, stderr %q; want 4, split brain", r.Code, r.Stderr)
	}
	if got, _ := os.ReadFile(manifest); string(got) != string(orig) {
		t.Fatal("the manifest changed on a refusal")
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatalf("the state dir was written on a refusal: %v", err)
	}

	putN(t, all, "/more/", 100)
	// A put committed by m2 and m3 alone may not have reached m1 yet; killed
	// then, the survivor truly lacks it (what 'survivors' is for). A
	// linearizable read on m1 returns only once m1 has applied every
	// committed entry, so the loss below starts from a survivor that has them.
	if n := count(t, local, "/more/"); n != 100 {
		t.Fatalf("m1 reads %d /more/ keys before the loss, want 100", n)
	}
	for _, m := range []*playground.Member{m2, m3} {
		if err := m.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(m.DataDir()); err != nil {
			t.Fatal(err)
		}
	}

	r = clitest.Run(t, env, append(args, "--yes", "-o", "json")...)
	var v struct {
		Done, ServedAlone, FlagRemoved, ServedAfter bool
		BackupDir                                   string
		Edits                                       []struct{ Why string }
		Next                                        string
		Rejoin                                      []bg.Rejoin
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &v) != nil || !v.Done || !v.ServedAlone || !v.FlagRemoved || !v.ServedAfter || len(v.Edits) != 2 {
		t.Fatalf("force-new-cluster: exit %d\n%s\nagent log:\n%s", r.Code, r.Stdout, readFile(filepath.Join(node, "logs", "etcd.yaml.log")))
	}
	if got, _ := os.ReadFile(manifest); string(got) != string(orig) {
		t.Fatalf("the manifest is not back byte-identical:\n%s", got)
	}
	if cmd := agent.Command("etcd.yaml"); cmd == nil || strings.Contains(strings.Join(cmd, " "), "force-new-cluster") {
		t.Fatalf("the agent runs %q", cmd)
	}
	if _, err := os.Stat(filepath.Join(v.BackupDir, "SHA256SUMS")); err != nil {
		t.Fatalf("no checksummed backup: %v", err)
	}
	if n, err := members(local); err != nil || n != 1 {
		t.Fatalf("members %d (%v), want 1", n, err)
	}
	if b, m := count(t, local, "/before/"), count(t, local, "/more/"); b != 200 || m != 100 {
		t.Fatalf("keys after the force: %d and %d, want 200 and 100", b, m)
	}

	// A learner added now survives a restart: the flag is really gone.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	add, err := local.MemberAddAsLearner(ctx, []string{freeURL(t)})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.KillPod("etcd.yaml"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "m1 serves after the restart", func() error {
		n, err := members(local)
		if err == nil && n != 2 {
			return fmt.Errorf("%d members after the restart: it forced again", n)
		}
		return err
	})
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	_, err = local.MemberRemove(ctx, add.Member.ID)
	cancel()
	if err != nil {
		t.Fatal(err)
	}

	// The next step brings m2 and m3 back as they were, by name.
	if len(v.Rejoin) != 2 || v.Rejoin[0].Name != m2.Name || v.Rejoin[1].Name != m3.Name || v.Rejoin[0].PeerURLs[0] != m2.PeerURL ||
		!strings.Contains(v.Next, v.Rejoin[0].Add) || !strings.Contains(v.Next, v.Rejoin[0].Promote) {
		t.Fatalf("next %q, rejoin %+v: want m2 then m3 at their peer URLs", v.Next, v.Rejoin)
	}
	// The plan, run later on the node (the force's output long gone), names
	// the same commands from the journal, m2's add next; once the members
	// are back it marks them done.
	plan := []string{"breakglass", "plan", "--manifest-dir", manifests, "--state-dir", state, "--endpoints", m1.ClientURL, "-o", "json"}
	before := rejoinPlan(t, clitest.Run(t, env, plan...))
	if !slices.EqualFunc(before.Rejoin, v.Rejoin, func(a, b bg.Rejoin) bool { return a.Add == b.Add && a.Promote == b.Promote }) ||
		!slices.Equal(before.states, []string{"next", "pending", "pending", "pending"}) || before.commands[0] != v.Rejoin[0].Add {
		t.Fatalf("plan after the force: rejoin %+v, steps %v %v; want the force's own commands, m2's add next", before.Rejoin, before.commands, before.states)
	}
	regrow(t, c, local, m1, v.Rejoin, []*playground.Member{m2, m3})
	if after := rejoinPlan(t, clitest.Run(t, env, plan...)); !slices.Equal(after.states, []string{"done", "done", "done", "done"}) {
		t.Fatalf("plan after the regrow: rejoin steps %v, want all done", after.states)
	}

	// Nothing is left for undo to change in the manifest.
	r = clitest.Run(t, env, "breakglass", "undo", "--manifest-dir", manifests, "--state-dir", state, "--yes")
	if got, _ := os.ReadFile(manifest); r.Code != 0 || string(got) != string(orig) {
		t.Fatalf("undo: exit %d, manifest changed", r.Code)
	}
}

// rejoinView is a plan's rejoin commands and the states of its rejoin steps.
type rejoinView struct {
	Rejoin           []bg.Rejoin
	commands, states []string
}

func rejoinPlan(t *testing.T, r clitest.Result) rejoinView {
	t.Helper()
	var p bg.PlanReport
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &p) != nil {
		t.Fatalf("plan: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	v := rejoinView{Rejoin: p.Rejoin}
	for _, s := range p.Steps {
		if s.Member != "" {
			v.commands, v.states = append(v.commands, s.Command), append(v.states, s.State)
		}
	}
	return v
}

func readFile(p string) string { b, _ := os.ReadFile(p); return string(b) }

// regrow runs force-new-cluster's rejoin commands exactly as printed (plus
// --yes, and -o json to read the start flags): each lost member is added
// back as a learner under its old name and peer URL, started from an empty
// data dir with the printed flags, and promoted; then all three voters
// answer and agree on HashKV at one revision.
func regrow(t *testing.T, c *playground.Cluster, local *clientv3.Client, m1 *playground.Member, rejoin []bg.Rejoin, lost []*playground.Member) {
	t.Helper()
	env := playgroundtest.Env()
	eps := []string{m1.ClientURL}
	byName := map[string]*playground.Member{}
	for _, m := range lost {
		byName[m.Name] = m
	}
	for _, rj := range rejoin {
		m := byName[rj.Name]
		if m == nil {
			t.Fatalf("rejoin names %s, not a lost member", rj.Name)
		}
		r := clitest.Run(t, env, append(strings.Fields(strings.TrimPrefix(rj.Add, "etcdmedic ")), "--yes", "-o", "json")...)
		var added struct {
			IsLearner bool `json:"isLearner"`
			Start     struct {
				Flags []string `json:"flags"`
			} `json:"start"`
		}
		if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &added) != nil || !added.IsLearner {
			t.Fatalf("%s: exit %d %s%s", rj.Add, r.Code, r.Stdout, r.Stderr)
		}
		if _, err := c.StartJoining(m.ClientURL, added.Start.Flags); err != nil {
			t.Fatal(err)
		}
		r = clitest.Run(t, env, append(strings.Fields(strings.TrimPrefix(rj.Promote, "etcdmedic ")), "--yes")...)
		if r.Code != 0 {
			t.Fatalf("%s: exit %d %s", rj.Promote, r.Code, r.Stderr)
		}
		eps = append(eps, m.ClientURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ml, err := local.MemberList(ctx)
	if err != nil || len(ml.Members) != 3 {
		t.Fatalf("member list after the re-grow: %v %v", ml, err)
	}
	for _, m := range ml.Members {
		if m.IsLearner {
			t.Fatalf("%s is still a learner", m.Name)
		}
	}
	put, err := local.Put(ctx, "/regrown", "v")
	if err != nil {
		t.Fatal(err)
	}
	rev := put.Header.Revision
	var hashes []uint32
	waitFor(t, 30*time.Second, "every member applied the last write", func() error {
		hashes = hashes[:0]
		for _, ep := range eps {
			h, err := local.HashKV(ctx, ep, rev)
			if err != nil {
				return fmt.Errorf("%s: %w", ep, err)
			}
			hashes = append(hashes, h.Hash)
		}
		return nil
	})
	if hashes[0] != hashes[1] || hashes[0] != hashes[2] {
		t.Fatalf("HashKV at revision %d differs: %v", rev, hashes)
	}
}

// TestForceNewClusterOffline: on a disk mounted elsewhere (a fixture root
// holding a stopped member's data dir), only the backup and the flagged
// manifest; --remove-flag then puts the original back byte-identical.
func TestForceNewClusterOffline(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	putN(t, etcdClient(t, c.Endpoints()...), "/k/", 10)
	if err := c.Member(0).Stop(); err != nil {
		t.Fatal(err)
	}
	root := fixtureRoot(t)
	copyTree(t, c.Member(0).DataDir(), filepath.Join(root, "var/lib/etcd"))
	manifest := filepath.Join(root, "etc/kubernetes/manifests/etcd.yaml")
	orig := readFile(manifest)
	env := playgroundtest.Env()

	r := clitest.Run(t, env, "breakglass", "force-new-cluster", "--root", root, "--quorum-is-lost", "--yes")
	if r.Code != 64 || !strings.Contains(r.Stderr, "--cluster-id") {
		t.Fatalf("--quorum-is-lost without --cluster-id: exit %d %q", r.Code, r.Stderr)
	}
	r = clitest.Run(t, env, "breakglass", "force-new-cluster", "--root", root)
	if r.Code != 4 || readFile(manifest) != orig {
		t.Fatalf("unconfirmed: exit %d or the manifest changed", r.Code)
	}
	r = clitest.Run(t, env, "breakglass", "force-new-cluster", "--root", root, "--yes", "-o", "json")
	var v struct {
		Offline   bool   `json:"offline"`
		BackupDir string `json:"backupDir"`
		Next      string `json:"next"`
	}
	// The next step is taken on the member's node, its disk back in place:
	// no --root there (the plan run here still shows the --root form).
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &v) != nil || !v.Offline || v.Next != "start the member on its node, then there: etcdmedic breakglass force-new-cluster --remove-flag" {
		t.Fatalf("offline force: exit %d %s", r.Code, r.Stdout)
	}
	if !strings.Contains(readFile(manifest), "--force-new-cluster=true") {
		t.Fatal("no flag in the manifest")
	}
	if _, err := os.Stat(filepath.Join(root, v.BackupDir, "member/snap/db")); err != nil {
		t.Fatalf("no backup of the data dir: %v", err)
	}
	r = clitest.Run(t, env, "breakglass", "plan", "--root", root)
	if r.Code != 0 || !strings.Contains(r.Stdout, "1. [next] Take --force-new-cluster out") || !strings.Contains(r.Stdout, "force-new-cluster --remove-flag --root "+root) {
		t.Fatalf("plan after an offline force: exit %d; want the flag's removal next", r.Code)
	}
	r = clitest.Run(t, env, "breakglass", "force-new-cluster", "--root", root, "--yes")
	if r.Code != 4 || !strings.Contains(r.Stderr, "already has --force-new-cluster") {
		t.Fatalf("second force: exit %d %q", r.Code, r.Stderr)
	}
	r = clitest.Run(t, env, "breakglass", "force-new-cluster", "--root", root, "--remove-flag", "--yes")
	if r.Code != 0 || readFile(manifest) != orig {
		t.Fatalf("--remove-flag: exit %d, manifest byte-identical: %v", r.Code, readFile(manifest) == orig)
	}
	r = clitest.Run(t, env, "breakglass", "force-new-cluster", "--root", root, "--remove-flag", "--yes")
	if r.Code != 4 {
		t.Fatalf("--remove-flag with nothing to remove: exit %d", r.Code)
	}
}
