package breakglass

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// Distributions whose static-pod directory breakglass finds by itself.
const (
	DistroKubeadm   = "kubeadm"
	DistroRKE2      = "rke2"
	DistroOpenShift = "openshift"
)

// openShiftEtcdManifest is the file OpenShift's installer pods write for
// etcd into kubeadm's directory: library-go's installer names each static
// pod after its pod ConfigMap (etcd-pod, kube-apiserver-pod,
// kube-controller-manager-pod, kube-scheduler-pod) plus ".yaml", and adds
// the other "*-pod.yaml" keys (kube-apiserver-startup-monitor-pod.yaml).
const openShiftEtcdManifest = "etcd-pod.yaml"

// ErrK3sNoStaticPods: a k3s server runs etcd and the control plane inside
// its own process, so there is nothing for plan or etcd-only to move.
var ErrK3sNoStaticPods = fault.Mark(errors.New("k3s runs etcd, the apiserver, the scheduler and the controller-manager inside the k3s server process, not as static pods: breakglass has no manifests to move on this node (k3s's own recovery is 'k3s server --cluster-reset'; --manifest-dir names a static-pod directory if you run one)"), fault.Invalid)

// findStaticPodDir is where the kubelet's static pods are when its config
// names none: kubeadm's directory (OpenShift's too, told apart by its
// etcd-pod.yaml), else RKE2's <data-dir>/agent/pod-manifests, else none on
// a k3s server (an error), else kubeadm's default for the caller to report
// missing.
func findStaticPodDir(root string) (dir, source string, err error) {
	kubeadm := filepath.Join(root, DefaultStaticPodPath)
	if isDir(kubeadm) {
		return kubeadm, "default", nil
	}
	rke2, err := cluster.RKE2StaticPodDir(root)
	if err != nil {
		return "", "", fmt.Errorf("rke2 config: %w", err)
	}
	if isDir(rke2) {
		return rke2, "rke2 (<data-dir>/agent/pod-manifests)", nil
	}
	if k3s, err := cluster.K3sServer(root); err != nil {
		return "", "", fmt.Errorf("k3s config: %w", err)
	} else if k3s {
		return "", "", ErrK3sNoStaticPods
	}
	return kubeadm, "default", nil
}

// distroOf names the distribution a static-pod directory belongs to.
func distroOf(root, dir string) string {
	if _, err := os.Stat(filepath.Join(dir, openShiftEtcdManifest)); err == nil {
		return DistroOpenShift
	}
	if rke2, err := cluster.RKE2StaticPodDir(root); err == nil {
		if real, err := filepath.EvalSymlinks(rke2); err == nil && real == dir {
			return DistroRKE2
		}
	}
	return DistroKubeadm
}

// etcdDataDir reads the data dir from an etcd manifest the way discovery
// does (kubeadm's flags, OpenShift's script, RKE2's --config-file), as a
// path on the node; "" when the manifest does not say.
func (l *Layout) etcdDataDir(m *Manifest) string {
	path := m.Path
	if m.Target != "" {
		path = m.Target
	}
	flags, err := cluster.EtcdManifestFlags(path, l.Root)
	if err != nil || flags["data-dir"] == "" {
		// A manifest discovery cannot use (no client URL, say) may still
		// name its data dir on the etcd container's command line.
		for i := range m.Pod.Spec.Containers {
			if c := &m.Pod.Spec.Containers[i]; c.Name == Etcd {
				return containerFlags(c).Get("data-dir")
			}
		}
		return containerFlags(&m.Pod.Spec.Containers[0]).Get("data-dir")
	}
	return l.Rel(flags["data-dir"])
}

// distroCaveat is what the runbook must say about who else writes the
// static-pod directory.
func distroCaveat(distro string) string {
	switch distro {
	case DistroRKE2:
		return "RKE2 writes these manifests again whenever rke2-server starts: do not restart rke2-server until 'breakglass undo'"
	case DistroOpenShift:
		return "OpenShift's operators install new revisions of these manifests while an apiserver answers: check again with 'breakglass plan' after each step"
	}
	return ""
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
