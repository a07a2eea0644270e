package cluster

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// readStaticPod parses an etcd static-pod manifest as kubeadm, RKE2 and
// OpenShift write them. The etcd command line is read from the container's
// command and args (kubeadm), from the shell script that execs etcd
// (OpenShift), and from the --config-file it names (RKE2). Every file path
// it yields is a path on this node: container paths are mapped back through
// the pod's hostPath mounts, then put under root.
func readStaticPod(path, root string) (*LocalMember, *corev1.Pod, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(data, &pod); err != nil {
		if err2 := yaml.Unmarshal(data, &pod); err2 != nil {
			return nil, nil, fmt.Errorf("%s is not a Pod manifest: %v", path, err2)
		}
	}
	if pod.Kind != "Pod" {
		return nil, nil, fmt.Errorf("%s is not a Pod manifest (kind %q)", path, pod.Kind)
	}
	etcd := etcdContainer(&pod)
	if etcd == nil {
		return nil, nil, fmt.Errorf("%s has no etcd container", path)
	}
	flags := ParseFlags(etcdArgv(etcd))
	// etcd takes every flag from ETCD_<FLAG> too, a flag winning over its
	// variable: OpenShift sets the data dir only as ETCD_DATA_DIR.
	for _, e := range etcd.Env {
		name, ok := strings.CutPrefix(e.Name, "ETCD_")
		if !ok || e.ValueFrom != nil || strings.Contains(e.Value, "$(") {
			continue
		}
		if k := strings.ToLower(strings.ReplaceAll(name, "_", "-")); flags[k] == "" {
			flags[k] = e.Value
		}
	}
	toHost := func(p string) string { return hostPath(root, containerToHost(&pod, etcd, p)) }
	if cf := flags["config-file"]; cf != "" {
		fromFile, err := readEtcdConfigFile(toHost(cf))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %v", path, err)
		}
		// etcd ignores every other flag once --config-file is given.
		flags = fromFile
		flags["config-file"] = cf
	}
	for _, k := range []string{"trusted-ca-file", "cert-file", "key-file", "peer-trusted-ca-file", "peer-cert-file", "peer-key-file", "data-dir"} {
		if v := flags[k]; v != "" {
			flags[k] = toHost(v)
		}
	}
	local, err := localFromFlags(flags, path)
	if err != nil {
		return nil, nil, err
	}
	local.Manifest = path
	return local, &pod, nil
}

// localFromFlags derives the member's URLs from etcd's own settings.
func localFromFlags(flags map[string]string, source string) (*LocalMember, error) {
	local := &LocalMember{Name: flags["name"], Flags: flags}
	var loopback, others []string
	for _, u := range splitList([]string{flags["listen-client-urls"]}) {
		if isLoopbackURL(u) {
			loopback = append(loopback, u)
		} else if l, ok := wildcardToLoopback(u); ok {
			loopback = append(loopback, l)
		}
	}
	for _, u := range splitList([]string{flags["advertise-client-urls"]}) {
		// A URL the pod's shell fills in at start (OpenShift's ${NODE_..._IP})
		// cannot be dialled as written.
		if !strings.Contains(u, "$") {
			others = append(others, u)
		}
	}
	local.ClientURLs = dedupe(append(loopback, others...))
	if len(local.ClientURLs) == 0 {
		return nil, fmt.Errorf("%s: etcd command has neither --advertise-client-urls nor --listen-client-urls", source)
	}
	local.MetricsURL = metricsURL(flags)
	return local, nil
}

// metricsURL picks where the member serves /metrics to a client holding the
// client certificate. With --listen-client-http-urls set (k3s, RKE2,
// OpenShift) the client port serves gRPC only, so /metrics is not there.
// An https metrics listener wants a CA and certificate of its own
// (OpenShift's 9978 trusts the metrics CA only), so the client HTTP listener
// is preferred over it.
func metricsURL(flags map[string]string) string {
	first := func(key string) string {
		for _, u := range splitList([]string{flags[key]}) {
			if l, ok := wildcardToLoopback(u); ok {
				u = l
			}
			return strings.TrimSuffix(u, "/") + "/metrics"
		}
		return ""
	}
	m, httpURL := first("listen-metrics-urls"), first("listen-client-http-urls")
	if strings.HasPrefix(m, "https://") && httpURL != "" {
		return httpURL
	}
	return firstNonEmpty(m, httpURL)
}

// wildcardToLoopback turns a listener on every address into the loopback
// URL a local client dials.
func wildcardToLoopback(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	loop := map[string]string{"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}[u.Hostname()]
	if loop == "" || u.Port() == "" {
		return "", false
	}
	u.Host = net.JoinHostPort(loop, u.Port())
	return u.String(), true
}

func etcdContainer(pod *corev1.Pod) *corev1.Container {
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if c.Name == "etcd" || (len(c.Command) > 0 && filepath.Base(c.Command[0]) == "etcd") {
			return c
		}
	}
	return nil
}

// etcdArgv is the etcd command line of a container. When the container runs
// a shell script (OpenShift: `exec nice ... etcd --flag=... \`), the words
// after the etcd word up to the end of that command are its arguments.
func etcdArgv(c *corev1.Container) []string {
	argv := append(append([]string(nil), c.Command...), c.Args...)
	if len(argv) == 0 || !isShell(argv[0]) {
		return argv
	}
	script := argv[len(argv)-1]
	script = strings.ReplaceAll(script, "\\\n", " ")
	// The last etcd command in the script is the one it execs.
	var found []string
	for _, line := range strings.Split(script, "\n") {
		words := strings.Fields(line)
		for i, w := range words {
			if strings.HasPrefix(w, "-") || filepath.Base(w) != "etcd" || i+1 >= len(words) || !strings.HasPrefix(words[i+1], "-") {
				continue
			}
			found = found[:0]
			for _, a := range words[i+1:] {
				if a == "||" || a == "&&" || a == ";" || a == "|" {
					break
				}
				found = append(found, strings.Trim(a, `"'`))
			}
			break
		}
	}
	if found != nil {
		return found
	}
	return argv
}

func isShell(p string) bool {
	switch filepath.Base(p) {
	case "sh", "bash", "ash", "dash":
		return true
	}
	return false
}

// containerToHost maps a path inside the container to the host path behind
// it, through the container's volume mounts and the pod's hostPath volumes.
// A path under no hostPath mount is returned as is (kubeadm mounts its PKI
// at the same path).
func containerToHost(pod *corev1.Pod, c *corev1.Container, p string) string {
	best, bestLen := p, -1
	for _, m := range c.VolumeMounts {
		mp := strings.TrimSuffix(m.MountPath, "/")
		if p != mp && !strings.HasPrefix(p, mp+"/") {
			continue
		}
		for _, v := range pod.Spec.Volumes {
			if v.Name == m.Name && v.HostPath != nil && len(mp) > bestLen {
				best, bestLen = filepath.Join(v.HostPath.Path, strings.TrimPrefix(p, mp)), len(mp)
			}
		}
	}
	return best
}

type clientEnv struct{ cacert, cert, key string }

// podClientEnv reads the ETCDCTL_* certificate variables a pod sets for its
// own etcdctl (OpenShift's etcdctl container), mapped to host paths.
func podClientEnv(pod *corev1.Pod, root string) clientEnv {
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		var e clientEnv
		for _, v := range c.Env {
			p := hostPath(root, containerToHost(pod, c, v.Value))
			switch v.Name {
			case "ETCDCTL_CACERT":
				e.cacert = p
			case "ETCDCTL_CERT":
				e.cert = p
			case "ETCDCTL_KEY":
				e.key = p
			}
		}
		if e.cert != "" && e.key != "" {
			return e
		}
	}
	return clientEnv{}
}

// podEnv returns the value of one environment variable of any container.
func podEnv(pod *corev1.Pod, name string) string {
	for _, c := range pod.Spec.Containers {
		for _, v := range c.Env {
			if v.Name == name {
				return v.Value
			}
		}
	}
	return ""
}
