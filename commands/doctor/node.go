package doctor

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/health"
)

func addNodeFlags(fl *pflag.FlagSet, opts *Options) {
	fl.StringVar(&opts.MetricsFile, "metrics-file", opts.MetricsFile, "also write the findings as a Prometheus textfile (atomically)")
	fl.BoolVar(&opts.Node, "node", opts.Node, "check this machine (disk fdatasync latency, free space, certificates, compaction settings) instead of the cluster")
	fl.StringVar(&opts.DataDir, "data-dir", opts.DataDir, "etcd's data dir for --node (default: the manifest's --data-dir)")
}

// runNode checks the machine under a member: no connection to etcd.
func runNode(ctx context.Context, opts *Options) error {
	no := health.NodeOptions{Preset: opts.Preset, Thresholds: opts.thresholds, DataDir: opts.DataDir}
	manifest := cluster.DefaultManifest
	explicit := false
	if opts.Global != nil {
		// A manifest named on purpose must be there; the default one (not a
		// kubeadm node) may be missing: its checks are then unknown.
		if m := opts.Global.Manifest; m != "" && m != cluster.DefaultManifest {
			manifest, explicit = m, true
		}
		no.ExtraCerts = append(no.ExtraCerts, opts.Global.CACert, opts.Global.Cert)
	}
	local, err := cluster.ReadEtcdManifest(manifest)
	switch {
	case err == nil:
		no.Flags, no.Manifest = local.Flags, manifest
		if no.DataDir == "" {
			no.DataDir = local.Flags["data-dir"]
		}
		// kubeadm and its kin keep the apiserver's manifest beside etcd's.
		if api, err := readAPIServerFlags(filepath.Join(filepath.Dir(manifest), "kube-apiserver.yaml")); err == nil {
			no.APIServerFlags = api
		}
	case explicit || !errors.Is(err, fs.ErrNotExist):
		return cmdutil.UsageError(err)
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

// readAPIServerFlags reads kube-apiserver's flags from its static-pod manifest.
func readAPIServerFlags(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pod corev1.Pod
	if err := yaml.Unmarshal(data, &pod); err != nil {
		return nil, err
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == "kube-apiserver" || (len(c.Command) > 0 && filepath.Base(c.Command[0]) == "kube-apiserver") {
			return cluster.ParseFlags(append(append([]string(nil), c.Command...), c.Args...)), nil
		}
	}
	return nil, errors.New(path + " has no kube-apiserver container")
}
