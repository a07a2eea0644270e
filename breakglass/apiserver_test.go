package breakglass

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func TestBreakGlassAPIServerManifest(t *testing.T) {
	root, manifests := fixtureRoot(t)
	l, j := mustLayout(t, root)

	// Refused while the original still runs.
	orig, err := os.ReadFile(filepath.Join(manifests, "kube-apiserver.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	om, err := ParseManifest("kube-apiserver.yaml", orig)
	if err != nil {
		t.Fatal(err)
	}
	data, err := GenerateAPIServer(om, APIServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteAPIServer(l, j, data); !errors.Is(err, ErrRefused) {
		t.Fatalf("write beside the original: %v, want ErrRefused", err)
	}

	src := quarantineAPIServer(t, l, j)
	if src.SHA256 != digest(orig) {
		t.Fatal("the original found in quarantine is not the original")
	}
	// It parses as a k8s.io/api Pod, strictly.
	pod := writeBreakGlassAPIServer(t, l, j, src, APIServerOptions{MaxRequestsInflight: 30, MaxMutatingRequestsInflight: 15})
	if pod.Annotations[BreakGlassAnnotation] == "" || pod.Name != "kube-apiserver" || !pod.Spec.HostNetwork {
		t.Fatalf("pod identity lost: %+v", pod.ObjectMeta)
	}
	c := pod.Spec.Containers[0]
	a := NewArgs(c.Command)
	want := map[string]string{
		"bind-address":                   "127.0.0.1",
		"endpoint-reconciler-type":       "none",
		"etcd-servers":                   "https://127.0.0.1:2379",
		"max-requests-inflight":          "30",
		"max-mutating-requests-inflight": "15",
		"watch-cache":                    "false",
		"disable-admission-plugins":      "MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
		"enable-admission-plugins":       "NodeRestriction",
		// kept
		"advertise-address":                "10.0.0.11",
		"etcd-prefix":                      "/registry",
		"encryption-provider-config":       "/etc/kubernetes/enc/encryption-config.yaml",
		"tls-cert-file":                    "/etc/kubernetes/pki/apiserver.crt",
		"tls-private-key-file":             "/etc/kubernetes/pki/apiserver.key",
		"etcd-certfile":                    "/etc/kubernetes/pki/apiserver-etcd-client.crt",
		"etcd-keyfile":                     "/etc/kubernetes/pki/apiserver-etcd-client.key",
		"etcd-cafile":                      "/etc/kubernetes/pki/etcd/ca.crt",
		"client-ca-file":                   "/etc/kubernetes/pki/ca.crt",
		"service-account-key-file":         "/etc/kubernetes/pki/sa.pub",
		"service-account-signing-key-file": "/etc/kubernetes/pki/sa.key",
		"secure-port":                      "6443",
	}
	for flag, v := range want {
		if got := a.Get(flag); got != v {
			t.Errorf("--%s=%q, want %q", flag, got, v)
		}
	}
	if c.Command[0] != "kube-apiserver" {
		t.Errorf("command starts with %q", c.Command[0])
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Host != "127.0.0.1" || p.HTTPGet.Port.IntValue() != 6443 || p.HTTPGet.Scheme != corev1.URISchemeHTTPS {
			t.Errorf("%s probe not on https://127.0.0.1:6443: %+v", name, p)
		}
	}
	if len(pod.Spec.Volumes) != 3 || len(c.VolumeMounts) != 3 {
		t.Error("volumes (certificates, encryption config) must be kept")
	}
	// Every original flag not rewritten is still there.
	for _, arg := range om.Pod.Spec.Containers[0].Command[1:] {
		name := strings.SplitN(strings.TrimPrefix(arg, "--"), "=", 2)[0]
		if _, rewritten := want[name]; !rewritten && !a.Has(name) {
			t.Errorf("--%s dropped", name)
		}
	}

	// Plan sees it; undo removes it, then restores the originals.
	r, err := Plan(l, j, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Steps[0].State != StateDone || r.Steps[1].State != StateDone || r.Steps[2].State != StateNext {
		t.Errorf("plan states %+v", r.Steps)
	}
	if _, err := Undo(context.Background(), l, j, UndoOptions{}); err != nil {
		t.Fatal(err)
	}
	back, _ := os.ReadFile(filepath.Join(manifests, "kube-apiserver.yaml"))
	if string(back) != string(orig) {
		t.Fatal("undo did not bring the original kube-apiserver.yaml back byte-identical")
	}
}

func TestLocalEtcd(t *testing.T) {
	for in, want := range map[string]string{
		"https://10.0.0.11:2379,https://10.0.0.12:2379": "https://127.0.0.1:2379",
		"https://127.0.0.1:2379,https://10.0.0.12:2379": "https://127.0.0.1:2379",
		"http://localhost:12379":                        "http://localhost:12379",
		"":                                              "https://127.0.0.1:2379",
	} {
		if got := localEtcd(in); got != want {
			t.Errorf("localEtcd(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRampStepsBackOnRegression(t *testing.T) {
	root, _ := fixtureRoot(t)
	l, j := mustLayout(t, root)
	if _, err := EtcdOnly(l, j); err != nil {
		t.Fatal(err)
	}
	entries, _ := j.Read()
	src, _ := FindOriginalAPIServer(l, entries)
	data, _ := GenerateAPIServer(src, APIServerOptions{})
	if _, err := WriteAPIServer(l, j, data); err != nil {
		t.Fatal(err)
	}
	calls := 0
	gate := func(context.Context) error {
		calls++
		if calls == 3 {
			return errors.New("etcd member m1: WAL fsync p99 0.800s > 0.100s")
		}
		return nil
	}
	steps, err := Ramp(context.Background(), l, j, RampOptions{To: 420, Steps: 4, Interval: 1, Gate: gate})
	if !errors.Is(err, ErrRegression) {
		t.Fatalf("err %v, want ErrRegression", err)
	}
	if len(steps) != 4 || steps[0].MaxRequestsInflight != 120 || steps[2].Result != "stepped-back" || steps[3].Result != "planned" {
		t.Fatalf("steps %+v", steps)
	}
	m, err := BreakGlassManifest(l)
	if err != nil {
		t.Fatal(err)
	}
	a := APIServerFlags(m)
	if a.Get("max-requests-inflight") != "220" || a.Get("max-mutating-requests-inflight") != "110" {
		t.Fatalf("after step-back: %s/%s, want 220/110 (step 2)", a.Get("max-requests-inflight"), a.Get("max-mutating-requests-inflight"))
	}
	if a.Get("bind-address") != "127.0.0.1" {
		t.Fatal("ramp lost the other flags")
	}
}

// writeBreakGlassAPIServer generates and writes the break-glass manifest from
// src and reads it back strictly as a k8s.io/api Pod.
func writeBreakGlassAPIServer(t *testing.T, l *Layout, j *Journal, src *Manifest, o APIServerOptions) corev1.Pod {
	t.Helper()
	data, err := GenerateAPIServer(src, o)
	if err != nil {
		t.Fatal(err)
	}
	path, err := WriteAPIServer(l, j, data)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(raw, &pod); err != nil {
		t.Fatalf("not a Pod: %v", err)
	}
	return pod
}
