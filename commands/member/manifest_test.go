package member_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// member add --manifest on a kubeadm node: the printed diff, applied to a
// copy of this node's etcd manifest, is a manifest the new node's kubelet
// (here the playground's node agent, running the etcd 3.7 release binary)
// starts a learner from, which then promotes to the fourth voter and serves
// linearizable reads.
//
// One machine plays both nodes: this node is m1 at 127.0.0.1, the new node
// is 127.0.0.2 with the same ports (each member binds its own address, as on
// two hosts). The one thing a second host gives for free, its own empty
// /var/lib/etcd, is the only change the test makes beyond the diff: the
// data dir's path is the same on every node, so the diff rightly leaves it.
func TestAddManifestDiffStartsTheMemberUnderANodeAgent(t *testing.T) {
	var bin string
	for v, b := range playgroundtest.ReleaseBinaries(t) {
		if strings.HasPrefix(v, "v3.7.") {
			bin = b.Etcd
		}
	}
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	m1 := c.Member(0)
	var initial []string
	for _, m := range c.Members() {
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	clientPort, peerPort := portOf(t, m1.ClientURL), portOf(t, m1.PeerURL)
	metricsPort := playgroundtest.FreePort(t)

	here := filepath.Join(t.TempDir(), "node-a", "manifests")
	if err := os.MkdirAll(here, 0o755); err != nil {
		t.Fatal(err)
	}
	orig := kubeadmManifest("127.0.0.1", m1.Name, m1.DataDir(), strings.Join(initial[:1], ","), clientPort, peerPort, metricsPort)
	manifest := filepath.Join(here, "etcd.yaml")
	if err := os.WriteFile(manifest, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}

	newPeer := fmt.Sprintf("http://127.0.0.2:%d", peerPort)
	res := clitest.Run(t, nil, "member", "add", "m4", "--peer-urls", newPeer, "--manifest", manifest, "--yes", "-o", "json", "--endpoints", endpoints(c))
	added := decodeAdd(t, res)
	if res.Code != 0 || !added.Added || added.ManifestDiff == "" || added.Manifest != manifest {
		t.Fatalf("add --manifest: exit %d, manifest %q, diff %q\n%s", res.Code, added.Manifest, added.ManifestDiff, res.Stderr)
	}
	if strings.Contains(added.ManifestDiff, "data-dir") {
		t.Fatalf("the diff changes the data dir, which is the same path on every node:\n%s", added.ManifestDiff)
	}
	patched := applyManifestDiff(t, orig, added.ManifestDiff)
	newDataDir := filepath.Join(t.TempDir(), "node-b-var-lib-etcd")
	patched = strings.ReplaceAll(patched, m1.DataDir(), newDataDir)

	there := filepath.Join(t.TempDir(), "node-b", "manifests")
	if err := os.MkdirAll(there, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(there, "etcd.yaml"), []byte(patched), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(filepath.Dir(there), "logs")
	agent, err := playground.StartNodeAgent(playground.NodeAgentOptions{ManifestDir: there, Binaries: map[string]string{"etcd": bin}, LogDir: logs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(agent.Stop)
	argv := strings.Join(agent.Command("etcd.yaml"), " ")
	for _, want := range append(added.Start.Flags, fmt.Sprintf("--listen-client-urls=http://127.0.0.2:%d", clientPort), fmt.Sprintf("--listen-metrics-urls=http://127.0.0.2:%d", metricsPort)) {
		if !strings.Contains(argv, want) {
			t.Fatalf("the new node's etcd runs without %q:\n%s", want, argv)
		}
	}

	p := clitest.Run(t, nil, "member", "promote", "m4", "--wait", "3m", "--yes", "--endpoints", endpoints(c))
	if p.Code != 0 {
		log, _ := os.ReadFile(filepath.Join(logs, "etcd.yaml.log"))
		t.Fatalf("promote m4: exit %d\n%s\nnode agent's etcd log tail:\n%s", p.Code, p.Stderr, tail(string(log), 20))
	}
	l := list(t, endpoints(c))
	if voters(l) != 4 || !rowByID(t, l, added.ID).Reachable || row(t, l, "m4").IsLearner {
		t.Fatalf("after promote: %+v", l.Members)
	}
	newClient := fmt.Sprintf("http://127.0.0.2:%d", clientPort)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{newClient}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/from-manifest", "yes"); err != nil {
		t.Fatal(err)
	}
	got, err := cli.Get(ctx, "/from-manifest") // linearizable: the default
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "yes" {
		t.Fatalf("linearizable read on m4: %v %v", got, err)
	}
	if agent.Starts("etcd.yaml") != 1 {
		t.Fatalf("the new node's etcd was started %d times, want once", agent.Starts("etcd.yaml"))
	}
}

// kubeadmManifest is the etcd static pod kubeadm writes on a first
// control-plane node (no --initial-cluster-state), for a node at host,
// over plain http and with the playground's raft timing.
func kubeadmManifest(host, name, dataDir, initialCluster string, clientPort, peerPort, metricsPort int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/etcd.advertise-client-urls: http://%[1]s:%[5]d
  labels:
    component: etcd
    tier: control-plane
  name: etcd
  namespace: kube-system
spec:
  containers:
  - command:
    - etcd
    - --advertise-client-urls=http://%[1]s:%[5]d
    - --data-dir=%[3]s
    - --election-timeout=2000
    - --feature-gates=InitialCorruptCheck=true
    - --heartbeat-interval=200
    - --initial-advertise-peer-urls=http://%[1]s:%[6]d
    - --initial-cluster=%[4]s
    - --listen-client-urls=http://%[1]s:%[5]d
    - --listen-metrics-urls=http://%[1]s:%[7]d
    - --listen-peer-urls=http://%[1]s:%[6]d
    - --name=%[2]s
    - --snapshot-count=10000
    image: registry.k8s.io/etcd:3.7.3-0
    name: etcd
    volumeMounts:
    - mountPath: %[3]s
      name: etcd-data
  hostNetwork: true
  volumes:
  - hostPath:
      path: %[3]s
      type: DirectoryOrCreate
    name: etcd-data
status: {}
`, host, name, dataDir, initialCluster, clientPort, peerPort, metricsPort)
}

// applyManifestDiff applies add's diff as a person would: each "@@ line N"
// hunk replaces line N (which must read as the "-" line says), each
// "@@ after line N" hunk inserts its "+" line after line N.
func applyManifestDiff(t *testing.T, orig, diff string) string {
	t.Helper()
	lines := strings.Split(orig, "\n")
	after := map[int][]string{}
	hunk := regexp.MustCompile(`^@@ (after )?line (\d+) @@$`)
	dl := strings.Split(strings.TrimSuffix(diff, "\n"), "\n")
	if len(dl) < 2 || !strings.HasPrefix(dl[0], "--- ") || !strings.HasPrefix(dl[1], "+++ ") {
		t.Fatalf("not a diff:\n%s", diff)
	}
	for i := 2; i < len(dl); i++ {
		m := hunk.FindStringSubmatch(dl[i])
		if m == nil {
			t.Fatalf("diff line %d %q is not a hunk header:\n%s", i+1, dl[i], diff)
		}
		n, _ := strconv.Atoi(m[2])
		if n < 1 || n > len(lines) {
			t.Fatalf("hunk %q outside the manifest", dl[i])
		}
		if m[1] != "" {
			if i+1 >= len(dl) || !strings.HasPrefix(dl[i+1], "+") {
				t.Fatalf("hunk %q has no + line", dl[i])
			}
			after[n] = append(after[n], dl[i+1][1:])
			i++
			continue
		}
		if i+2 >= len(dl) || dl[i+1] != "-"+lines[n-1] || !strings.HasPrefix(dl[i+2], "+") {
			t.Fatalf("hunk %q does not match line %d %q:\n%s", dl[i], n, lines[n-1], diff)
		}
		lines[n-1] = dl[i+2][1:]
		i += 2
	}
	var out []string
	for i, l := range lines {
		out = append(out, l)
		out = append(out, after[i+1]...)
	}
	return strings.Join(out, "\n")
}

func portOf(t *testing.T, raw string) int {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
