package playground

import (
	"fmt"
	"path/filepath"
	"strings"
)

// NewMemberURLs reserves a client and a peer URL on free loopback ports for
// a member that is yet to be added (by a test of `member add`).
func (c *Cluster) NewMemberURLs() (clientURL, peerURL string, err error) {
	ports, err := freePorts(2)
	if err != nil {
		return "", "", err
	}
	m := c.newMember("", ports[0], ports[1])
	return m.ClientURL, m.PeerURL, nil
}

// StartJoining starts a member process that joins this running cluster with
// exactly the etcd flags given (as `etcdmedic member add` prints them:
// --name, --initial-cluster, --initial-cluster-state,
// --initial-advertise-peer-urls, each as --flag=value), listening for
// clients on clientURL and for peers on its advertised peer URL. It returns
// once the process runs; whether it joins is for the caller to watch.
func (c *Cluster) StartJoining(clientURL string, flags []string) (*Member, error) {
	set := map[string]string{}
	for _, f := range flags {
		k, v, ok := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if !ok || !strings.HasPrefix(f, "--") {
			return nil, fmt.Errorf("playground: flag %q is not --name=value", f)
		}
		set[k] = v
	}
	name, peer := set["name"], set["initial-advertise-peer-urls"]
	if name == "" || peer == "" || set["initial-cluster"] == "" {
		return nil, fmt.Errorf("playground: joining needs --name, --initial-advertise-peer-urls and --initial-cluster (got %q)", flags)
	}
	m := &Member{Name: name, ClientURL: clientURL, PeerURL: strings.Split(peer, ",")[0], Dir: filepath.Join(c.dir, name), cluster: c}
	if err := m.writeConfig(set["initial-cluster"], set["initial-cluster-state"]); err != nil {
		return nil, err
	}
	m.config["initial-advertise-peer-urls"] = peer
	m.config["listen-peer-urls"] = peer
	if err := m.saveConfig(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.members = append(c.members, m)
	c.mu.Unlock()
	if err := m.start(); err != nil {
		return nil, err
	}
	return m, nil
}
