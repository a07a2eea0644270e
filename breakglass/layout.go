// Package breakglass scripts the recovery runbook for a control plane that
// keeps falling over: etcd-only boot, a localhost-bound apiserver, a throttled
// ramp, a stale-pod purge straight from etcd, and a journal that undo replays.
package breakglass

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// Defaults of a kubeadm control-plane node.
const (
	DefaultStaticPodPath = "/etc/kubernetes/manifests"
	DefaultKubeletConfig = "/var/lib/kubelet/config.yaml"
	// The quarantine must be outside the static-pod directory: the kubelet
	// runs every file there whose name does not start with a dot.
	DefaultQuarantine = "/etc/kubernetes/etcdmedic-disabled"
	DefaultStateDir   = "/var/lib/etcdmedic/breakglass"
)

// ErrNoManifests means the static-pod directory is missing or holds no
// manifests: the wrong root, or not a control-plane node.
var ErrNoManifests = fault.Mark(errors.New("no static-pod manifests"), fault.Invalid)

// Layout is where things live on one node, all under Root ("/" on the node
// itself, a mount point for a control-plane disk attached elsewhere).
type Layout struct {
	Root          string
	ManifestDir   string // the kubelet's staticPodPath, under Root
	QuarantineDir string
	StateDir      string // journal and purge archives
	// StaticPodPathSource says where ManifestDir came from, for plan.
	StaticPodPathSource string
	// Distribution is whose layout ManifestDir is: kubeadm, rke2 or
	// openshift (see layout_distro.go).
	Distribution string
}

// LayoutOptions override the discovered paths; paths are inside the root.
type LayoutOptions struct {
	Root          string
	KubeletConfig string // default DefaultKubeletConfig
	ManifestDir   string // overrides the kubelet's staticPodPath
	QuarantineDir string
	StateDir      string
}

// ResolveLayout finds the static-pod directory the way the kubelet does: its
// config file's staticPodPath, else kubeadm's (and OpenShift's) directory,
// else RKE2's; a k3s server has none, which is an error.
func ResolveLayout(o LayoutOptions) (*Layout, error) {
	l, err := resolveLayout(o)
	// A root that is not a directory, an unreadable kubelet config, a
	// quarantine inside the manifest directory: the input is wrong.
	return l, fault.Mark(err, fault.Invalid)
}

func resolveLayout(o LayoutOptions) (*Layout, error) {
	root := o.Root
	if root == "" {
		root = "/"
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", root, err)
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("root %s is not a directory", root)
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, fmt.Errorf("root %s: %w", root, err)
	}
	l := &Layout{Root: abs}
	under := func(p string) string { return filepath.Join(abs, filepath.Clean("/"+p)) }
	switch {
	case o.ManifestDir != "":
		l.ManifestDir, l.StaticPodPathSource = under(o.ManifestDir), "--manifest-dir"
	default:
		kc := o.KubeletConfig
		if kc == "" {
			kc = DefaultKubeletConfig
		}
		kcPath, err := resolveIn(abs, under(kc))
		if err != nil {
			return nil, fmt.Errorf("kubelet config: %w", err)
		}
		p, err := staticPodPath(kcPath)
		switch {
		case err != nil:
			return nil, err
		case p != "":
			l.ManifestDir, l.StaticPodPathSource = under(p), "kubelet config "+kc
		default:
			if l.ManifestDir, l.StaticPodPathSource, err = findStaticPodDir(abs); err != nil {
				return nil, err
			}
		}
	}
	l.QuarantineDir = under(firstNonEmpty(o.QuarantineDir, DefaultQuarantine))
	l.StateDir = under(firstNonEmpty(o.StateDir, DefaultStateDir))
	// Every move and write goes to the real directories: a quarantine that
	// is a symlink (or bind mount) into the static-pod directory would have
	// each manifest copied onto itself and then deleted.
	for _, d := range []*string{&l.ManifestDir, &l.QuarantineDir, &l.StateDir} {
		real, err := resolveIn(abs, *d)
		if err != nil {
			return nil, err
		}
		*d = real
	}
	if err := l.checkApart(); err != nil {
		return nil, err
	}
	l.Distribution = distroOf(abs, l.ManifestDir)
	return l, nil
}

// checkApart refuses a quarantine or state directory that is, or is inside,
// the static-pod directory, by real path and by identity. Moves check it
// again right before they touch anything.
func (l *Layout) checkApart() error {
	for _, d := range []struct{ what, path string }{{"quarantine", l.QuarantineDir}, {"state", l.StateDir}} {
		if inside(d.path, l.ManifestDir) || sameOrInside(d.path, l.ManifestDir) {
			return fault.Mark(fmt.Errorf("the %s directory %s resolves into the static-pod directory %s: the kubelet would run what is moved there, and a move onto itself deletes the manifest; it must be outside", d.what, l.Rel(d.path), l.Rel(l.ManifestDir)), fault.Invalid)
		}
	}
	return nil
}

// staticPodPath reads staticPodPath from a KubeletConfiguration file; a
// missing file is not an error (kubeadm's default applies).
func staticPodPath(path string) (string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("kubelet config: %w", err)
	}
	var kc struct {
		StaticPodPath string `json:"staticPodPath"`
	}
	if err := yaml.Unmarshal(data, &kc); err != nil {
		return "", fmt.Errorf("kubelet config %s: %w", path, err)
	}
	return kc.StaticPodPath, nil
}

// Rel shows a path as it is on the node (without the mount point).
func (l *Layout) Rel(p string) string {
	r, err := filepath.Rel(l.Root, p)
	if err != nil || strings.HasPrefix(r, "..") {
		return p
	}
	return "/" + r
}

// Resolve maps a path as on the node to where it is here, every symlink
// followed as the node would (absolute targets under the root).
func (l *Layout) Resolve(nodePath string) (string, error) { return resolveIn(l.Root, l.abs(nodePath)) }

// JournalPath is the journal of this node.
func (l *Layout) JournalPath() string { return filepath.Join(l.StateDir, "journal.jsonl") }

func inside(p, dir string) bool {
	r, err := filepath.Rel(dir, p)
	return err == nil && (r == "." || !strings.HasPrefix(r, ".."))
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
