package kube

import (
	"bytes"
	"errors"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
)

// apiserverCodec is kube-apiserver's own storage serializer: what Encode must
// match byte for byte, and what DecodePod must read.
func apiserverCodec(t *testing.T) (*runtime.Scheme, *protobuf.Serializer) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := coordinationv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return scheme, protobuf.NewSerializer(scheme, scheme)
}

func samples() []Object {
	created := metav1.NewTime(time.Date(2026, 12, 2, 17, 0, 0, 0, time.UTC))
	meta := metav1.ObjectMeta{Name: "web-0", Namespace: "shop", UID: "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
		Labels: map[string]string{"app": "web"}, CreationTimestamp: created}
	holder := "node-1"
	return []Object{
		&corev1.Pod{ObjectMeta: meta, Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}},
		&corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"k": "v"}},
		&corev1.Event{ObjectMeta: meta, Reason: "Started", InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-0"}},
		&coordinationv1.Lease{ObjectMeta: meta, Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder}},
	}
}

func TestEncodeIsWhatTheAPIServerStores(t *testing.T) {
	scheme, codec := apiserverCodec(t)
	for _, obj := range samples() {
		got, err := Encode(obj.DeepCopyObject().(Object))
		if err != nil {
			t.Fatalf("%T: %v", obj, err)
		}
		want := obj.DeepCopyObject()
		gvks, _, err := scheme.ObjectKinds(want)
		if err != nil {
			t.Fatal(err)
		}
		want.GetObjectKind().SetGroupVersionKind(gvks[0])
		var buf bytes.Buffer
		if err := codec.Encode(want, &buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, buf.Bytes()) {
			t.Errorf("%T: Encode differs from kube-apiserver's serializer:\n got %q\nwant %q", obj, got, buf.Bytes())
		}
		kind, err := Kind(got)
		if err != nil || kind != gvks[0] {
			t.Errorf("%T: Kind = %v, %v; want %v", obj, kind, err, gvks[0])
		}
	}
}

func TestDecodePodReadsTheAPIServersBytes(t *testing.T) {
	_, codec := apiserverCodec(t)
	pod := samples()[0].(*corev1.Pod)
	pod.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Pod"))
	var buf bytes.Buffer
	if err := codec.Encode(pod, &buf); err != nil {
		t.Fatal(err)
	}
	got, err := DecodePod(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "web-0" || got.Namespace != "shop" || got.Spec.NodeName != "node-1" || got.Status.Phase != corev1.PodRunning ||
		got.Labels["app"] != "web" || !got.CreationTimestamp.Equal(&pod.CreationTimestamp) || got.Kind != "Pod" || got.APIVersion != "v1" {
		t.Errorf("decoded %+v", got)
	}
}

func TestDecodePodRefusesWhatIsNotAPod(t *testing.T) {
	cm, err := Encode(samples()[1])
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		value []byte
		want  error
	}{
		{"configmap", cm, ErrUnexpectKind},
		{"encrypted", []byte("k8s:enc:aescbc:v1:key1:\x00\x01"), ErrEncrypted},
		{"json", []byte(`{"kind":"Pod","apiVersion":"v1"}`), ErrNotProtobuf},
		{"truncated", cm[:len(cm)/2], ErrNotProtobuf},
	}
	for _, c := range cases {
		if _, err := DecodePod(c.value); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}
