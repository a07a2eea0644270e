package breakglass

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

func TestContainerArgsKeepFlagsWhereTheyWere(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		command, args        []string
		wantCommand, wantArg []string
	}{
		{
			name:        "a flag deleted from command: args keep their own flags",
			command:     []string{"kube-apiserver", "--etcd-servers-overrides=/events#https://10.0.0.9:2379", "--bind-address=0.0.0.0"},
			args:        []string{"--secure-port=6443", "--max-requests-inflight=400"},
			wantCommand: []string{"kube-apiserver", "--bind-address=127.0.0.1"},
			wantArg:     []string{"--secure-port=6443", "--max-requests-inflight=20", "--watch-cache=false"},
		},
		{
			name:        "a flag in both parts ends up once, in command",
			command:     []string{"kube-apiserver", "--watch-cache=true"},
			args:        []string{"--watch-cache", "true", "--v=2"},
			wantCommand: []string{"kube-apiserver", "--watch-cache=false"},
			wantArg:     []string{"--v=2", "--max-requests-inflight=20", "--bind-address=127.0.0.1"},
		},
		{
			name:        "no args: everything stays in command",
			command:     []string{"kube-apiserver", "--bind-address=0.0.0.0"},
			wantCommand: []string{"kube-apiserver", "--bind-address=127.0.0.1", "--max-requests-inflight=20", "--watch-cache=false"},
		},
		{
			name:        "args emptied by deletes: no args left",
			command:     []string{"kube-apiserver"},
			args:        []string{"--etcd-servers-overrides=x"},
			wantCommand: []string{"kube-apiserver", "--max-requests-inflight=20", "--watch-cache=false", "--bind-address=127.0.0.1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewContainerArgs(tc.command, tc.args)
			a.Delete("etcd-servers-overrides")
			a.Set("max-requests-inflight", "20")
			a.Set("watch-cache", "false")
			a.Set("bind-address", "127.0.0.1")
			if !reflect.DeepEqual(a.Command(), tc.wantCommand) || !reflect.DeepEqual(a.Args(), tc.wantArg) {
				t.Fatalf("command %q args %q, want %q %q", a.Command(), a.Args(), tc.wantCommand, tc.wantArg)
			}
			if a.Get("watch-cache") != "false" || a.Get("bind-address") != "127.0.0.1" || a.Get("etcd-servers-overrides") != "" {
				t.Fatalf("Get over command and args: %q", append(a.Command(), a.Args()...))
			}
		})
	}
}

// A kubeadm-style manifest whose flags sit partly in command: and partly in
// args: keeps that split in the break-glass manifest.
func TestBreakGlassAPIServerKeepsTheCommandArgsSplit(t *testing.T) {
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "kube-apiserver", Namespace: "kube-system", Labels: map[string]string{"component": "kube-apiserver"}},
		Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{
			Name:    "kube-apiserver",
			Image:   "registry.k8s.io/kube-apiserver:v1.34.4",
			Command: []string{"kube-apiserver", "--etcd-servers-overrides=/events#https://10.0.0.9:2379", "--etcd-servers=https://127.0.0.1:2379", "--bind-address=0.0.0.0"},
			Args:    []string{"--secure-port=6443", "--advertise-address=10.0.0.11", "--enable-admission-plugins=NodeRestriction,ValidatingAdmissionWebhook"},
		}}},
	}
	data, err := yaml.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := ParseManifest("kube-apiserver.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := GenerateAPIServer(orig, APIServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got corev1.Pod
	if err := yaml.UnmarshalStrict(out, &got); err != nil {
		t.Fatal(err)
	}
	c := got.Spec.Containers[0]
	wantCommand := []string{"kube-apiserver", "--etcd-servers=https://127.0.0.1:2379", "--bind-address=127.0.0.1"}
	if !reflect.DeepEqual(c.Command, wantCommand) {
		t.Errorf("command %q, want %q", c.Command, wantCommand)
	}
	if len(c.Args) < 3 || c.Args[0] != "--secure-port=6443" || c.Args[1] != "--advertise-address=10.0.0.11" || c.Args[2] != "--enable-admission-plugins=NodeRestriction" {
		t.Errorf("args %q: the original args must stay first, in order, with only their values changed", c.Args)
	}
}

func TestArgsGetReadsLikeTheBinary(t *testing.T) {
	a := NewArgs([]string{"kube-apiserver", "--secure-port=6443", "--v", "2", "--secure-port", "7443", "--profiling"})
	for flag, want := range map[string]string{"secure-port": "7443", "v": "2", "profiling": "true", "absent": ""} {
		if got := a.Get(flag); got != want {
			t.Errorf("--%s = %q, want %q (the last occurrence wins)", flag, got, want)
		}
	}
}
