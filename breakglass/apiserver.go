package breakglass

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/etcdmedic/etcdmedic/internal/atomicfile"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// APIServerOptions shape the break-glass kube-apiserver.
type APIServerOptions struct {
	MaxRequestsInflight         int    // default 20
	MaxMutatingRequestsInflight int    // default 10
	EtcdServers                 string // default: the loopback entries of the original, else https://127.0.0.1:2379
	WatchCache                  bool   // default false: no start-up list of every resource
}

// Flags the generator always sets, in the order it sets them.
var webhookPlugins = []string{"MutatingAdmissionWebhook", "ValidatingAdmissionWebhook"}

// BreakGlassFileName is the generated manifest's name in the static-pod directory.
const BreakGlassFileName = "kube-apiserver.yaml"

// GenerateAPIServer derives the break-glass manifest from the original
// kube-apiserver manifest: bound to 127.0.0.1, probes on 127.0.0.1, no
// endpoint reconciler, local etcd only, low inflight limits, no watch cache,
// no admission webhooks. Certificates, etcd prefix and encryption config are
// the original's, untouched.
func GenerateAPIServer(orig *Manifest, o APIServerOptions) ([]byte, error) {
	data, err := generateAPIServer(orig, o)
	return data, fault.Mark(err, fault.Invalid) // the source manifest is the input
}

func generateAPIServer(orig *Manifest, o APIServerOptions) ([]byte, error) {
	if orig.Component != KubeAPIServer {
		return nil, fmt.Errorf("%s runs %s, not kube-apiserver", orig.Path, orig.Component)
	}
	if o.MaxRequestsInflight <= 0 {
		o.MaxRequestsInflight = 20
	}
	if o.MaxMutatingRequestsInflight <= 0 {
		o.MaxMutatingRequestsInflight = 10
	}
	pod := orig.Pod.DeepCopy()
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[BreakGlassAnnotation] = "localhost"
	idx := -1
	for i, c := range pod.Spec.Containers {
		if component(&corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}) == KubeAPIServer {
			idx = i
		}
	}
	if idx < 0 {
		return nil, fmt.Errorf("%s: no kube-apiserver container", orig.Path)
	}
	c := &pod.Spec.Containers[idx]
	if script := shellScript(c); script != "" {
		// OpenShift's: bash -ec "exec watch-termination ... hyperkube
		// kube-apiserver --openshift-config=...". Flags appended to the
		// container would reach bash as positional parameters, not
		// kube-apiserver, and its config file sets the bind address and etcd
		// servers itself: a manifest written here would look right and bind
		// where the original does.
		return nil, fmt.Errorf("%s: kube-apiserver runs inside a shell script (%s), whose flags etcdmedic cannot set safely: pass --from with a manifest whose container runs kube-apiserver directly", orig.Path, firstWords(script, 4))
	}
	args := NewContainerArgs(c.Command, c.Args)
	etcd := o.EtcdServers
	if etcd == "" {
		etcd = localEtcd(args.Get("etcd-servers"))
	}
	args.Set("bind-address", "127.0.0.1")
	args.Set("endpoint-reconciler-type", "none")
	args.Set("etcd-servers", etcd)
	args.Delete("etcd-servers-overrides")
	args.Set("max-requests-inflight", strconv.Itoa(o.MaxRequestsInflight))
	args.Set("max-mutating-requests-inflight", strconv.Itoa(o.MaxMutatingRequestsInflight))
	args.Set("watch-cache", strconv.FormatBool(o.WatchCache))
	args.Set("etcd-count-metric-poll-period", "0s")
	enabled := without(splitCSV(args.Get("enable-admission-plugins")), webhookPlugins...)
	if len(enabled) > 0 {
		args.Set("enable-admission-plugins", strings.Join(enabled, ","))
	} else {
		args.Delete("enable-admission-plugins")
	}
	disabled := append(without(splitCSV(args.Get("disable-admission-plugins")), webhookPlugins...), webhookPlugins...)
	args.Set("disable-admission-plugins", strings.Join(disabled, ","))
	c.Command, c.Args = args.Command(), args.Args()
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p == nil {
			continue
		}
		switch {
		case p.HTTPGet != nil:
			p.HTTPGet.Host = "127.0.0.1"
		case p.TCPSocket != nil:
			p.TCPSocket.Host = "127.0.0.1"
		}
	}
	return yaml.Marshal(pod)
}

// localEtcd keeps the loopback members of an --etcd-servers list; when there
// are none it points at the local member on the usual port, same scheme.
func localEtcd(servers string) string {
	var local []string
	scheme := "https"
	for _, s := range splitCSV(servers) {
		u, err := url.Parse(s)
		if err != nil {
			continue
		}
		scheme = u.Scheme
		h := u.Hostname()
		if h == "localhost" || (net.ParseIP(h) != nil && net.ParseIP(h).IsLoopback()) {
			local = append(local, s)
		}
	}
	if len(local) == 0 {
		return scheme + "://127.0.0.1:2379"
	}
	return strings.Join(local, ",")
}

// SecurePort is the apiserver's --secure-port (6443 unless set).
func SecurePort(m *Manifest) int {
	for i := range m.Pod.Spec.Containers {
		if p, err := strconv.Atoi(containerFlags(&m.Pod.Spec.Containers[i]).Get("secure-port")); err == nil {
			return p
		}
	}
	return 6443
}

// APIServerFlags returns the kube-apiserver container's flags.
func APIServerFlags(m *Manifest) *Args {
	for _, c := range m.Pod.Spec.Containers {
		if component(&corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}) == KubeAPIServer {
			return containerFlags(&c)
		}
	}
	return &Args{}
}

// FindOriginalAPIServer returns the quarantined kube-apiserver manifest,
// newest first by the journal; without a journal entry, the quarantine
// directory is searched.
func FindOriginalAPIServer(l *Layout, entries []Entry) (*Manifest, error) {
	undone := Undone(entries)
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if e.Action != ActQuarantine || e.Result != ResultOK || undone[e.Seq] {
			continue
		}
		p, err := resolveIn(l.Root, l.abs(e.To))
		if err != nil {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if m, err := ParseManifest(p, data); err == nil && m.Component == KubeAPIServer {
			return m, nil
		}
	}
	step := []string{"breakglass", "etcd-only"}
	return nil, needsStep(fault.Mark(fmt.Errorf("no quarantined kube-apiserver manifest in %s: run %s first (below), or pass --from", l.Rel(l.QuarantineDir), stepName(step...)), fault.Refused), step...)
}

// WriteAPIServer writes the generated manifest into the static-pod directory
// and journals it. It refuses while a kube-apiserver manifest is still there:
// two pods of one name would collide in the kubelet.
func WriteAPIServer(l *Layout, j *Journal, data []byte) (string, error) {
	if err := CheckAPIServerSlot(l); err != nil {
		return "", err
	}
	path := filepath.Join(l.ManifestDir, BreakGlassFileName)
	if cur, err := os.ReadFile(path); err == nil && digest(cur) == digest(data) {
		return path, nil
	}
	if err := checkReplaceable(path); err != nil {
		return path, err
	}
	e := Entry{Action: ActWriteBG, Path: l.Rel(path), SHA256: digest(data), Result: ResultOK}
	werr := atomicfile.WriteFile(path, data, 0o600)
	if werr != nil {
		e.Result, e.Detail = ResultFailed, werr.Error()
	}
	if _, err := j.Append(e); err != nil {
		return path, err
	}
	return path, werr
}

// checkReplaceable refuses to write over anything at path but a regular
// file etcdmedic generated: whatever else is there was never backed up, and
// a symlink would be replaced, not its target.
func checkReplaceable(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().IsRegular() {
		if data, err := os.ReadFile(path); err == nil {
			if m, err := ParseManifest(path, data); err == nil && m.IsBreakGlass() {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: %s exists and is not a break-glass manifest etcdmedic wrote; move it away first", ErrRefused, path)
}

// CheckAPIServerSlot refuses (ErrRefused) while the original kube-apiserver
// manifest is still in the static-pod directory: a plan says so before
// anything is asked.
func CheckAPIServerSlot(l *Layout) error {
	ms, err := l.manifests()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.Component == KubeAPIServer && !m.IsBreakGlass() {
			step := []string{"breakglass", "etcd-only"}
			return needsStep(fmt.Errorf("%w: %s still runs the original kube-apiserver; run %s first (below)", ErrRefused, l.Rel(m.Path), stepName(step...)), step...)
		}
	}
	return nil
}

// Kubeconfig is a kubeconfig for the break-glass apiserver on 127.0.0.1. The
// serving certificate has no 127.0.0.1 SAN, hence tls-server-name. It names
// files, never embeds keys.
func Kubeconfig(port int, caFile, certFile, keyFile string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: breakglass
  cluster:
    server: https://127.0.0.1:%d
    certificate-authority: %s
    tls-server-name: kubernetes
users:
- name: breakglass-admin
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: breakglass
  context: {cluster: breakglass, user: breakglass-admin}
current-context: breakglass
`, port, caFile, certFile, keyFile)
}

func splitCSV(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func without(list []string, drop ...string) []string {
	var out []string
	for _, s := range list {
		keep := true
		for _, d := range drop {
			if s == d {
				keep = false
			}
		}
		if keep {
			out = append(out, s)
		}
	}
	return out
}

// shellScript is the script a container runs through a shell (sh or bash
// with -c among its first options), "" when it runs its program directly.
func shellScript(c *corev1.Container) string {
	argv := append(append([]string(nil), c.Command...), c.Args...)
	if len(argv) < 3 {
		return ""
	}
	switch filepath.Base(argv[0]) {
	case "sh", "bash", "dash", "ash":
	default:
		return ""
	}
	for i, a := range argv[1:] {
		if !strings.HasPrefix(a, "-") {
			return ""
		}
		if strings.Contains(a, "c") && !strings.HasPrefix(a, "--") && i+2 < len(argv) {
			return argv[i+2]
		}
	}
	return ""
}

func firstWords(s string, n int) string {
	w := strings.Fields(s)
	if len(w) > n {
		return strings.Join(w[:n], " ") + " ..."
	}
	return strings.Join(w, " ")
}
