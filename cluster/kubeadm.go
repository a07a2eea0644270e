package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// discoverKubeadm fills what flags and environment left open from the etcd
// static-pod manifest, so that on a kubeadm control-plane node no flag is needed.
// A manifest that is absent is fine unless the user named it explicitly.
func discoverKubeadm(cfg *Config, manifest string, explicit bool) error {
	if manifest == "" {
		manifest = DefaultManifest
	}
	local, err := ReadEtcdManifest(manifest)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !explicit {
			return nil
		}
		return configErrorf("kubeadm discovery: %v", err)
	}
	src := "kubeadm manifest " + manifest
	cfg.Local = local
	cfg.Endpoints, cfg.Sources["endpoints"] = local.ClientURLs, src

	ca := local.Flags["trusted-ca-file"]
	if cfg.CACert == "" && ca != "" {
		cfg.CACert, cfg.Sources["cacert"] = ca, src
	}
	if cfg.Cert == "" && cfg.Key == "" {
		// kubeadm keeps every etcd certificate in one directory; the client
		// certificates sit beside the CA (healthcheck-client) or one level up
		// (apiserver-etcd-client). Derive from the manifest's own paths so that
		// a non-default --cert-dir works too.
		pkiDir := filepath.Dir(firstNonEmpty(ca, local.Flags["cert-file"]))
		for _, pair := range [][2]string{
			{filepath.Join(pkiDir, "healthcheck-client.crt"), filepath.Join(pkiDir, "healthcheck-client.key")},
			{filepath.Join(filepath.Dir(pkiDir), "apiserver-etcd-client.crt"), filepath.Join(filepath.Dir(pkiDir), "apiserver-etcd-client.key")},
		} {
			if fileExists(pair[0]) && fileExists(pair[1]) {
				cfg.Cert, cfg.Key = pair[0], pair[1]
				cfg.Sources["cert"], cfg.Sources["key"] = src+" (kubeadm client certificate)", src+" (kubeadm client certificate)"
				break
			}
		}
	}
	return nil
}

// ReadEtcdManifest parses an etcd static-pod manifest and returns the member
// it describes: client URLs (a loopback listener first, since it works even
// when the node's address changed), metrics URL and every command-line flag.
func ReadEtcdManifest(path string) (*LocalMember, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(data, &pod); err != nil {
		if err2 := yaml.Unmarshal(data, &pod); err2 != nil {
			return nil, fmt.Errorf("%s is not a Pod manifest: %v", path, err2)
		}
	}
	if pod.Kind != "Pod" {
		return nil, fmt.Errorf("%s is not a Pod manifest (kind %q)", path, pod.Kind)
	}
	var etcd *corev1.Container
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if c.Name == "etcd" || (len(c.Command) > 0 && filepath.Base(c.Command[0]) == "etcd") {
			etcd = c
			break
		}
	}
	if etcd == nil {
		return nil, fmt.Errorf("%s has no etcd container", path)
	}
	flags := ParseFlags(append(append([]string(nil), etcd.Command...), etcd.Args...))
	local := &LocalMember{Name: flags["name"], Flags: flags, Manifest: path}

	var loopback, others []string
	for _, u := range splitList([]string{flags["listen-client-urls"]}) {
		if isLoopbackURL(u) {
			loopback = append(loopback, u)
		}
	}
	others = splitList([]string{flags["advertise-client-urls"]})
	local.ClientURLs = dedupe(append(loopback, others...))
	if len(local.ClientURLs) == 0 {
		return nil, fmt.Errorf("%s: etcd command has neither --advertise-client-urls nor --listen-client-urls", path)
	}
	if m := splitList([]string{flags["listen-metrics-urls"]}); len(m) > 0 {
		local.MetricsURL = strings.TrimSuffix(m[0], "/") + "/metrics"
	}
	return local, nil
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
