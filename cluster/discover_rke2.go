package cluster

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// RKE2 runs etcd as a kubelet static pod whose only argument is
// --config-file=<data-dir>/server/db/etcd/config (written by the k3s code it
// embeds); the certificates are k3s's, under <data-dir>/server/tls/etcd.
const (
	rke2Config  = "/etc/rancher/rke2/config.yaml"
	rke2DataDir = "/var/lib/rancher/rke2"
)

func findRKE2(root string) (*discovered, error) {
	data, err := rancherDataDir(root, rke2Config, rke2DataDir)
	if err != nil {
		return nil, err
	}
	manifest := filepath.Join(rke2PodManifests(data), "etcd.yaml")
	local, _, err := readStaticPod(manifest, root)
	if errors.Is(err, fs.ErrNotExist) && !fileExists(manifest) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d := &discovered{local: local, source: "rke2 static pod " + manifest}
	rancherCerts(d, filepath.Join(data, "server", "tls", "etcd"))
	return d, nil
}

// RKE2StaticPodDir is the directory RKE2's kubelet runs static pods from,
// under root: <data-dir>/agent/pod-manifests, the data-dir from RKE2's
// config file or its default. RKE2 writes etcd.yaml, kube-apiserver.yaml,
// kube-controller-manager.yaml, kube-scheduler.yaml, kube-proxy.yaml and
// cloud-controller-manager.yaml there (pkg/executor/staticpod, each named
// after its command).
func RKE2StaticPodDir(root string) (string, error) {
	data, err := rancherDataDir(root, rke2Config, rke2DataDir)
	if err != nil {
		return "", err
	}
	return rke2PodManifests(data), nil
}

func rke2PodManifests(data string) string { return filepath.Join(data, "agent", "pod-manifests") }

// rancherCerts fills the CA and the client pair k3s itself dials etcd with
// (client.crt), or the apiserver's (server-client.crt) when that is all
// there is.
func rancherCerts(d *discovered, tlsDir string) {
	d.cacert = firstNonEmpty(d.local.Flags["trusted-ca-file"], filepath.Join(tlsDir, "server-ca.crt"))
	d.cert, d.key = firstPair(
		[2]string{filepath.Join(tlsDir, "client.crt"), filepath.Join(tlsDir, "client.key")},
		[2]string{filepath.Join(tlsDir, "server-client.crt"), filepath.Join(tlsDir, "server-client.key")},
	)
}

// rancherDataDir is the data-dir set in the distribution's config file, or
// its default, under root.
func rancherDataDir(root, configFile, def string) (string, error) {
	b, err := os.ReadFile(hostPath(root, configFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return hostPath(root, def), nil
		}
		return "", err
	}
	var cfg struct {
		DataDir string `json:"data-dir"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil || cfg.DataDir == "" {
		// A config file that does not parse is the distribution's problem to
		// report; its default data-dir is still the best guess.
		return hostPath(root, def), nil
	}
	return hostPath(root, cfg.DataDir), nil
}
