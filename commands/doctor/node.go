package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/health"
)

func addNodeFlags(fl *pflag.FlagSet, opts *Options) {
	fl.StringVar(&opts.MetricsFile, "metrics-file", opts.MetricsFile, "also write the findings as a Prometheus textfile (atomically)")
	fl.BoolVar(&opts.Node, "node", opts.Node, "check this machine (disk fdatasync latency, free space, certificates, compaction settings, probe budget) instead of the cluster")
	fl.StringVar(&opts.DataDir, "data-dir", opts.DataDir, "etcd's data dir for --node (default: the manifest's --data-dir)")
}

// runNode checks the machine under a member. It reaches etcd only for two
// Status readings of the local member (the revision growth rate): never a
// load.
func runNode(ctx context.Context, opts *Options) error {
	no := health.NodeOptions{Preset: opts.Preset, Thresholds: opts.thresholds, DataDir: opts.DataDir, Window: opts.Window, Rerun: opts.rerunArgs()}
	if opts.Global != nil {
		no.ExtraCerts = append(no.ExtraCerts, opts.Global.CACert, opts.Global.Cert)
	}
	local, err := localMember(opts)
	var usage *cmdutil.FlagError
	switch {
	case errors.As(err, &usage):
		return err
	case err != nil:
		// An unreadable manifest or config (not root, a broken file): its
		// checks are unknown with the reason, the others still run.
		no.ManifestErr = err
	}
	if local != nil {
		no.Flags, no.Manifest = local.Flags, local.Manifest
		if no.DataDir == "" {
			no.DataDir = local.Flags["data-dir"]
		}
		switch k3s, _ := cluster.K3sServer(opts.root()); {
		case local.Manifest == "" && k3s:
			// k3s runs the apiserver in its own process: its flags are the
			// kube-apiserver-arg entries of k3s's config files.
			no.APIServerFlags, no.APIServerManifest, no.APIServerErr = cluster.K3sAPIServerFlags(opts.root())
		case local.Manifest != "":
			// kubeadm, RKE2 and OpenShift keep the apiserver's manifest beside etcd's.
			no.APIServerManifest = filepath.Join(filepath.Dir(local.Manifest), "kube-apiserver.yaml")
			no.APIServerFlags, no.APIServerErr = readAPIServerFlags(no.APIServerManifest)
		}
		no.Probes, no.ProbesErr = localProbes(local.Manifest, opts.root(), opts.thresholds, health.CarryArgs(opts.Preset, opts.Overrides, "probes."))
	}
	if c, err := opts.OpenCluster(); err == nil {
		defer c.Close()
		no.Cluster, no.Connection = c, c.Config.ConnectionFlags()
	} else {
		no.ClusterErr = err
	}
	r := health.DiagnoseNode(ctx, no)
	if err := render(opts, r); err != nil {
		return err
	}
	if err := writeMetrics(opts, r); err != nil {
		return err
	}
	return exitFor(r)
}

// localMember is the etcd member this node runs: the --manifest given, else
// what discovery finds (kubeadm, RKE2, k3s, OpenShift), else kubeadm's
// manifest when the endpoints were given and discovery did not run. nil
// when the node has none: its checks are then unknown.
func localMember(opts *Options) (*cluster.LocalMember, error) {
	if g := opts.Global; g != nil && g.Manifest != "" && g.Manifest != cluster.DefaultManifest {
		// A manifest named on purpose must be there.
		local, err := cluster.ReadEtcdManifest(g.Manifest)
		if err != nil {
			return nil, cmdutil.UsageError(err)
		}
		return local, nil
	}
	if opts.ClusterConfig != nil {
		cfg, err := opts.ClusterConfig()
		switch {
		// A layout found but unreadable ("kubeadm discovery: ..."): the
		// node's files, judged unknown. Any other configuration error (a
		// bad ETCDCTL_* value) is the user's to fix: exit 64.
		case err != nil && strings.Contains(err.Error(), " discovery: "):
			return nil, err
		case err != nil:
			return nil, cmdutil.UsageError(err)
		}
		if cfg.Local != nil {
			return cfg.Local, nil
		}
	}
	local, err := cluster.ReadEtcdManifest(cluster.DefaultManifest)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return local, nil
}

// readAPIServerFlags reads kube-apiserver's flags from its static-pod manifest.
func readAPIServerFlags(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pod corev1.Pod
	if err := yaml.Unmarshal(data, &pod); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == "kube-apiserver" || (len(c.Command) > 0 && filepath.Base(c.Command[0]) == "kube-apiserver") {
			return cluster.ParseFlags(append(append([]string(nil), c.Command...), c.Args...)), nil
		}
	}
	return nil, errors.New(path + " has no kube-apiserver container")
}
