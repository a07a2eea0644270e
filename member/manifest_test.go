package member

import (
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// The diff for a copy of this node's manifest: the four join flags with the
// new member's values, this node's address replaced in the other URLs, and
// --initial-cluster-state added where kubeadm's first node has none.
func TestManifestDiff(t *testing.T) {
	ms := &cluster.Membership{Members: []cluster.Member{{ID: 1, Name: "cp-1", PeerURLs: []string{"https://10.0.0.11:2380"}}}}
	s := startFlags(ms, 2, "cp-2", []string{"https://10.0.0.12:2380"})
	if want := "cp-1=https://10.0.0.11:2380,cp-2=https://10.0.0.12:2380"; s.InitialCluster != want {
		t.Fatalf("initial cluster %q, want %q", s.InitialCluster, want)
	}
	d, err := ManifestDiff("testdata/etcd.yaml", s, []string{"https://10.0.0.12:2380"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"-    - --name=cp-1\n+    - --name=cp-2\n",
		"+    - --initial-cluster=cp-1=https://10.0.0.11:2380,cp-2=https://10.0.0.12:2380\n",
		"+    - --initial-cluster-state=existing\n",
		"+    - --initial-advertise-peer-urls=https://10.0.0.12:2380\n",
		"+    - --listen-client-urls=https://127.0.0.1:2379,https://10.0.0.12:2379\n",
		"+    - --listen-peer-urls=https://10.0.0.12:2380\n",
		"+    kubeadm.kubernetes.io/etcd.advertise-client-urls: https://10.0.0.12:2379\n",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
	if strings.Contains(d, "cert-file") {
		t.Errorf("diff changes lines without the node's address:\n%s", d)
	}
}

// Names and peer URLs that cannot work are refused before anything connects.
func TestValidateNew(t *testing.T) {
	for _, c := range []struct {
		name string
		urls []string
		want string
	}{
		{"", []string{"http://127.0.0.1:2380"}, "needs a name"},
		{"a=b", []string{"http://127.0.0.1:2380"}, "no '='"},
		{"m4", nil, "--peer-urls is required"},
		{"m4", []string{"127.0.0.1:2380"}, "not a URL"},
		{"m4", []string{"ftp://127.0.0.1:2380"}, "scheme must be http or https"},
		{"m4", []string{"http://127.0.0.1"}, "needs a host and a port"},
		{"m4", []string{"http://127.0.0.1:2380/x"}, "only scheme, host and port"},
		{"m4", []string{"http://127.0.0.1:2380", "http://127.0.0.1:2380"}, "given twice"},
	} {
		err := ValidateNew(c.name, c.urls)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ValidateNew(%q, %q) = %v, want %q", c.name, c.urls, err, c.want)
		}
	}
	if err := ValidateNew("m4", []string{"https://10.0.0.4:2380"}); err != nil {
		t.Fatal(err)
	}
}
