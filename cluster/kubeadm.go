package cluster

import (
	"errors"

	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// findKubeadm looks for kubeadm's etcd static pod. A node without one is not
// an error: the next layout is tried. manifest is --manifest's value when
// not given on the command line (its default, or a caller's own).
func findKubeadm(root, manifest string) (*discovered, error) {
	path := hostPath(root, firstNonEmpty(manifest, DefaultManifest))
	d, err := kubeadmManifest(path, root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return d, err
}

// kubeadmManifest reads an etcd static-pod manifest (kubeadm's, or any other
// given with --manifest) and finds a client certificate beside its CA.
func kubeadmManifest(path, root string) (*discovered, error) {
	local, pod, err := readStaticPod(path, root)
	if err != nil {
		return nil, err
	}
	d := &discovered{local: local, source: "kubeadm manifest " + path, cacert: local.Flags["trusted-ca-file"]}
	// A pod that sets up its own etcdctl (OpenShift's etcd-pod.yaml given
	// with --manifest) says best how to reach its member.
	if env := podClientEnv(pod, root); env.cert != "" {
		d.cert, d.key = firstPair([2]string{env.cert, env.key})
		d.cacert = firstNonEmpty(env.cacert, d.cacert)
		local.ClientURLs = dedupe(append(local.ClientURLs, splitList([]string{podEnv(pod, "ETCDCTL_ENDPOINTS")})...))
		return d, nil
	}
	// kubeadm keeps every etcd certificate in one directory; the client
	// certificates sit beside the CA (healthcheck-client) or one level up
	// (apiserver-etcd-client). Derive from the manifest's own paths so that a
	// non-default --cert-dir works too. client.crt is what RKE2 and k3s name
	// theirs, for a manifest of theirs given with --manifest.
	pkiDir := filepath.Dir(firstNonEmpty(d.cacert, local.Flags["cert-file"]))
	d.cert, d.key = firstPair(
		[2]string{filepath.Join(pkiDir, "healthcheck-client.crt"), filepath.Join(pkiDir, "healthcheck-client.key")},
		[2]string{filepath.Join(filepath.Dir(pkiDir), "apiserver-etcd-client.crt"), filepath.Join(filepath.Dir(pkiDir), "apiserver-etcd-client.key")},
		[2]string{filepath.Join(pkiDir, "client.crt"), filepath.Join(pkiDir, "client.key")},
	)
	return d, nil
}

// ReadEtcdManifest parses an etcd static-pod manifest and returns the member
// it describes: client URLs (a loopback listener first, since it works even
// when the node's address changed), metrics URL and every command-line flag.
func ReadEtcdManifest(path string) (*LocalMember, error) {
	local, _, err := readStaticPod(path, "")
	return local, err
}

// ParseFlags reads --name=value and --name value pairs from a command line.
// Bare --flag means "true". Later occurrences win, as with the etcd binary.
func ParseFlags(argv []string) map[string]string {
	flags := map[string]string{}
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		a = strings.TrimLeft(a, "-")
		if name, val, ok := strings.Cut(a, "="); ok {
			flags[name] = val
			continue
		}
		if i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "-") {
			flags[a] = argv[i+1]
			i++
			continue
		}
		flags[a] = "true"
	}
	return flags
}

func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	h := u.Hostname()
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1"
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range in {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
