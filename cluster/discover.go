package cluster

import (
	"fmt"
	"path/filepath"
	"strings"
)

// RootEnv names the variable that moves every discovery path under another
// root: a control-plane disk mounted elsewhere, or a test's fixture tree.
const RootEnv = "ETCDMEDIC_ROOT"

// A layout is one way a distribution runs etcd on a control-plane node.
// find returns nil, nil when the node shows no sign of it, so the next one is
// tried; an error means the layout is there but unreadable (the user must
// fix permissions or the file), which stops discovery rather than quietly
// reaching some other etcd.
type layout struct {
	name string
	find func(root string) (*discovered, error)
}

// discovered is what a layout says about the member on this node.
type discovered struct {
	local             *LocalMember
	cacert, cert, key string
	source            string // the file that said so, shown with -v
}

// layouts in the order the issue fixes: kubeadm first because it is the most
// common and its file is the cheapest to test for; OpenShift last because its
// manifest directory is kubeadm's and only the file name differs.
func layouts(manifest string) []layout {
	return []layout{
		{"kubeadm", func(root string) (*discovered, error) { return findKubeadm(root, manifest) }},
		{"rke2", findRKE2},
		{"k3s", findK3s},
		{"openshift", findOpenShift},
	}
}

// discover fills what flags and environment left open from the first layout
// that matches this node; an explicit --manifest is read as a kubeadm-style
// manifest and nothing else is tried.
func discover(cfg *Config, in Inputs, explicitManifest bool, root string) error {
	if explicitManifest {
		d, err := kubeadmManifest(in.Manifest, root)
		if err != nil {
			return configErrorf("kubeadm discovery: %v", err)
		}
		cfg.Layout = "manifest"
		apply(cfg, d)
		return nil
	}
	var tried []string
	for _, l := range layouts(in.Manifest) {
		d, err := l.find(root)
		if err != nil {
			return configErrorf("%s discovery: %v", l.name, err)
		}
		if d == nil {
			tried = append(tried, l.name)
			continue
		}
		cfg.Layout = l.name
		apply(cfg, d)
		return nil
	}
	cfg.Layout = "none (no " + strings.Join(tried, ", ") + " etcd found under " + displayRoot(root) + ")"
	return nil
}

// EtcdManifestFlags reads an etcd static-pod manifest as discovery does
// (kubeadm's flags, the script OpenShift's pod runs, the --config-file RKE2's
// names) and returns etcd's settings; the file paths among them (data-dir,
// certificates) are where they are on the node, under root.
func EtcdManifestFlags(path, root string) (map[string]string, error) {
	local, _, err := readStaticPod(path, root)
	if err != nil {
		return nil, err
	}
	return local.Flags, nil
}

func apply(cfg *Config, d *discovered) {
	src := d.source
	cfg.Local = d.local
	cfg.Endpoints, cfg.Sources["endpoints"] = d.local.ClientURLs, src
	if cfg.CACert == "" && d.cacert != "" {
		cfg.CACert, cfg.Sources["cacert"] = d.cacert, src
	}
	// A certificate from one place and its key from another never pair up,
	// so both come from discovery or neither does.
	if cfg.Cert == "" && cfg.Key == "" && d.cert != "" && d.key != "" {
		cfg.Cert, cfg.Key = d.cert, d.key
		cfg.Sources["cert"], cfg.Sources["key"] = src+" (client certificate)", src+" (client certificate)"
	}
}

// hostPath maps an absolute path as the node sees it to where it is under root.
func hostPath(root, p string) string {
	if root == "" || root == "/" || p == "" {
		return p
	}
	return filepath.Join(root, p)
}

func displayRoot(root string) string {
	if root == "" {
		return "/"
	}
	return root
}

// firstPair returns the first certificate/key pair whose both files exist.
func firstPair(pairs ...[2]string) (string, string) {
	for _, p := range pairs {
		if fileExists(p[0]) && fileExists(p[1]) {
			return p[0], p[1]
		}
	}
	return "", ""
}

func describeLayout(c *Config) string {
	if c.Layout == "" {
		return ""
	}
	if c.Local == nil {
		return "layout=" + c.Layout
	}
	return fmt.Sprintf("layout=%s (%s)", c.Layout, c.Sources["endpoints"])
}
