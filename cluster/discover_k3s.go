package cluster

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// k3s runs etcd inside its own server process: there is no static pod, so
// no manifest to read and nothing for breakglass to move aside. It writes
// the embedded member's settings to <data-dir>/server/db/etcd/config and
// keeps SQLite (kine) instead unless etcd was chosen, so the config file or
// an etcd WAL is what says etcd runs here.
const (
	k3sConfig  = "/etc/rancher/k3s/config.yaml"
	k3sDataDir = "/var/lib/rancher/k3s"
)

// K3sServer says whether root holds a k3s server's state (<data-dir>/server,
// the data-dir from k3s's config file or its default): a node whose
// control plane runs inside the k3s process, with no static pods.
func K3sServer(root string) (bool, error) {
	data, err := rancherDataDir(root, k3sConfig, k3sDataDir)
	if err != nil {
		return false, err
	}
	st, err := os.Stat(filepath.Join(data, "server"))
	return err == nil && st.IsDir(), nil
}

func findK3s(root string) (*discovered, error) {
	data, err := rancherDataDir(root, k3sConfig, k3sDataDir)
	if err != nil {
		return nil, err
	}
	etcdDir := filepath.Join(data, "server", "db", "etcd")
	configFile := filepath.Join(etcdDir, "config")
	flags, err := readEtcdConfigFile(configFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if st, err := os.Stat(filepath.Join(etcdDir, "member", "wal")); err != nil || !st.IsDir() {
			return nil, nil
		}
		// The member has run but its config is gone (k3s rewrites it at every
		// start): k3s's fixed listeners.
		flags = map[string]string{
			"listen-client-urls":      "https://127.0.0.1:2379",
			"listen-metrics-urls":     "http://127.0.0.1:2381",
			"listen-client-http-urls": "https://127.0.0.1:2382",
		}
		configFile = etcdDir
	case err != nil:
		return nil, err
	}
	for _, k := range []string{"trusted-ca-file", "cert-file", "key-file", "peer-trusted-ca-file", "peer-cert-file", "peer-key-file", "data-dir"} {
		if v := flags[k]; v != "" {
			flags[k] = hostPath(root, v)
		}
	}
	local, err := localFromFlags(flags, configFile)
	if err != nil {
		return nil, err
	}
	d := &discovered{local: local, source: "k3s embedded etcd " + configFile}
	rancherCerts(d, filepath.Join(data, "server", "tls", "etcd"))
	return d, nil
}
