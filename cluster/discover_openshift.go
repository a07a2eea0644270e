package cluster

import (
	"errors"
	"io/fs"
)

// OpenShift's cluster-etcd-operator renders etcd-pod.yaml into kubeadm's
// manifest directory. etcd's flags sit in a shell script, its certificates
// are named after the node (etcd-peer-<node>.crt), and the pod mounts
// /etc/kubernetes/static-pod-resources/etcd-certs at
// /etc/kubernetes/static-pod-certs; the etcdctl container's ETCDCTL_*
// variables name the client pair, mapped back to the host through that mount
// (as the operator's cluster-backup.sh does).
const openShiftManifest = "/etc/kubernetes/manifests/etcd-pod.yaml"

func findOpenShift(root string) (*discovered, error) {
	manifest := hostPath(root, openShiftManifest)
	local, pod, err := readStaticPod(manifest, root)
	if errors.Is(err, fs.ErrNotExist) && !fileExists(manifest) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// The advertised URL is filled in by the pod's shell; the operator
	// writes every member's resolved client URL into ETCDCTL_ENDPOINTS.
	local.ClientURLs = dedupe(append(local.ClientURLs, splitList([]string{podEnv(pod, "ETCDCTL_ENDPOINTS")})...))
	d := &discovered{local: local, source: "openshift static pod " + manifest, cacert: local.Flags["trusted-ca-file"]}
	if env := podClientEnv(pod, root); env.cert != "" {
		d.cacert = firstNonEmpty(env.cacert, d.cacert)
		d.cert, d.key = firstPair([2]string{env.cert, env.key})
	}
	return d, nil
}
