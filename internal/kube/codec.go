// Package kube encodes and decodes Kubernetes objects the way kube-apiserver
// stores them in etcd: the "k8s\x00" magic prefix, then a protobuf
// runtime.Unknown envelope whose Raw field holds the object.
package kube

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
)

// ProtobufPrefix starts every protobuf-encoded value kube-apiserver writes.
var ProtobufPrefix = []byte("k8s\x00")

// EncryptedPrefix starts values encrypted at rest (KMS, aescbc, secretbox...):
// they cannot be read without the apiserver's keys.
var EncryptedPrefix = []byte("k8s:enc:")

var (
	ErrEncrypted    = errors.New("value is encrypted at rest")
	ErrNotProtobuf  = errors.New("value is not a Kubernetes protobuf object")
	ErrUnexpectKind = errors.New("unexpected kind")
)

// serializer builds the scheme on first use, not at package init: every
// command links this package (the playground seeds pods, breakglass decodes
// them), and the scheme was the costliest init of the whole CLI.
var serializer = sync.OnceValues(func() (*runtime.Scheme, *protobuf.Serializer) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, coordinationv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return scheme, protobuf.NewSerializer(scheme, scheme)
})

// Encode writes obj as kube-apiserver would store it. The object's TypeMeta
// (apiVersion, kind) is filled in from the scheme.
func Encode(obj runtime.Object) ([]byte, error) {
	scheme, codec := serializer()
	gvks, _, err := scheme.ObjectKinds(obj)
	if err != nil {
		return nil, err
	}
	obj.GetObjectKind().SetGroupVersionKind(gvks[0])
	var buf bytes.Buffer
	if err := codec.Encode(obj, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodePod decodes a stored Pod. Encrypted values and values that are not
// protobuf Pods are errors the caller must skip and count, never guess at.
func DecodePod(value []byte) (*corev1.Pod, error) {
	obj, gvk, err := decode(value)
	if err != nil {
		return nil, err
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("%w: %s, want Pod", ErrUnexpectKind, gvk.Kind)
	}
	return pod, nil
}

// Kind returns the group/version/kind of a stored value without decoding the object.
func Kind(value []byte) (schema.GroupVersionKind, error) {
	if bytes.HasPrefix(value, EncryptedPrefix) {
		return schema.GroupVersionKind{}, ErrEncrypted
	}
	if !bytes.HasPrefix(value, ProtobufPrefix) {
		return schema.GroupVersionKind{}, ErrNotProtobuf
	}
	var u runtime.Unknown
	if err := u.Unmarshal(value[len(ProtobufPrefix):]); err != nil {
		return schema.GroupVersionKind{}, fmt.Errorf("%w: %v", ErrNotProtobuf, err)
	}
	return schema.FromAPIVersionAndKind(u.APIVersion, u.Kind), nil
}

func decode(value []byte) (runtime.Object, *schema.GroupVersionKind, error) {
	if bytes.HasPrefix(value, EncryptedPrefix) {
		return nil, nil, ErrEncrypted
	}
	if !bytes.HasPrefix(value, ProtobufPrefix) {
		return nil, nil, ErrNotProtobuf
	}
	_, codec := serializer()
	obj, gvk, err := codec.Decode(value, nil, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNotProtobuf, err)
	}
	return obj, gvk, nil
}
