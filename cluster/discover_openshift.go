package cluster

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
	if !fileExists(manifest) {
		return nil, nil
	}
	d, err := kubeadmManifest(manifest, root)
	if err != nil {
		return nil, err
	}
	d.source = "openshift static pod " + manifest
	return d, nil
}
