package breakglass

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// Component names as kubeadm names the containers.
const (
	Etcd              = "etcd"
	KubeAPIServer     = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
)

// BreakGlassAnnotation marks the manifest etcdmedic generated, so plan and
// undo recognise it whatever its file name.
const BreakGlassAnnotation = "etcdmedic.io/breakglass"

// ErrNotPod means a file in the static-pod directory is not a Pod manifest.
var ErrNotPod = fault.Mark(errors.New("not a Pod manifest"), fault.Invalid)

// Manifest is one static-pod file as the kubelet would read it.
type Manifest struct {
	Path      string
	Data      []byte
	SHA256    string
	Pod       *corev1.Pod
	Component string // etcd, kube-apiserver, ... or the pod's first container name
	// Link is the symlink's own target text when Path is a symlink (the
	// kubelet follows it); Target is the file it resolves to, as on the
	// node under the root. Both empty for a regular file.
	Link, Target string
}

// ParseManifest reads data as a v1 Pod, the only kind the kubelet accepts.
func ParseManifest(path string, data []byte) (*Manifest, error) {
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(data, &tm); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrNotPod, err)
	}
	if tm.Kind != "Pod" || tm.APIVersion != "v1" {
		return nil, fmt.Errorf("%s: %w (apiVersion %q, kind %q)", path, ErrNotPod, tm.APIVersion, tm.Kind)
	}
	var pod corev1.Pod
	if err := yaml.Unmarshal(data, &pod); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrNotPod, err)
	}
	if len(pod.Spec.Containers) == 0 {
		return nil, fmt.Errorf("%s: %w: no containers", path, ErrNotPod)
	}
	return &Manifest{Path: path, Data: data, SHA256: digest(data), Pod: &pod, Component: component(&pod)}, nil
}

// component recognises the control-plane piece a pod runs by its container
// name or command, which survive renamed files (OpenShift's *-pod.yaml).
func component(pod *corev1.Pod) string {
	for _, c := range pod.Spec.Containers {
		for _, name := range []string{KubeAPIServer, ControllerManager, Scheduler, Etcd} {
			if c.Name == name || (len(c.Command) > 0 && filepath.Base(c.Command[0]) == name) {
				return name
			}
		}
	}
	return pod.Spec.Containers[0].Name
}

// ReadManifests lists the directory as the kubelet does: every file whose
// name does not start with a dot, whatever its extension; no recursion. A
// symlink is the manifest it points to, as the kubelet follows it. Any file
// that is not a Pod is an error: acting on a directory we cannot fully read
// would be guessing.
func ReadManifests(dir string) ([]*Manifest, error) { return readManifests("/", dir) }

// manifests reads the static-pod directory, symlinks resolved under the root.
func (l *Layout) manifests() ([]*Manifest, error) { return readManifests(l.Root, l.ManifestDir) }

func readManifests(root, dir string) ([]*Manifest, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist", ErrNoManifests, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("static-pod directory: %w", err)
	}
	var out []*Manifest
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		read := p
		var link string
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return nil, err
			}
			if read, err = resolveIn(root, p); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			st, err := os.Stat(read)
			if err != nil {
				// The kubelet on that node may well see a file there
				// (another mount, another disk): not knowing what it
				// runs, we do not act.
				return nil, fault.Mark(fmt.Errorf("%s is a symlink to %s, which cannot be read here (%v): cannot tell what the kubelet runs; resolve or remove the link first", p, link, err), fault.Invalid)
			}
			if st.IsDir() {
				continue // the kubelet does not recurse
			}
			if !st.Mode().IsRegular() {
				return nil, fault.Mark(fmt.Errorf("%s is a symlink to %s, which is not a regular file", p, link), fault.Invalid)
			}
		case !e.Type().IsRegular():
			continue
		}
		data, err := os.ReadFile(read)
		if err != nil {
			return nil, err
		}
		m, err := ParseManifest(p, data)
		if err != nil {
			return nil, err
		}
		if link != "" {
			m.Link, m.Target = link, read
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoManifests, dir)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// IsBreakGlass says whether etcdmedic generated this manifest.
func (m *Manifest) IsBreakGlass() bool { return m.Pod.Annotations[BreakGlassAnnotation] != "" }

func digest(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}
