package doctor

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	bg "github.com/etcdmedic/etcdmedic/breakglass"
	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/health"
)

// localProbes measures the etcd static pod of the manifest this run read
// (the one `breakglass probes` edits) for health to judge. root is
// $ETCDMEDIC_ROOT (discovery read the node's files under it; "" is /). It
// returns nil, nil when the manifest is not a static pod in a manifest
// directory (k3s's config file): there is no probe to judge.
func localProbes(manifest, root string, t health.Thresholds, judge []string) (*health.ProbeFacts, error) {
	if manifest == "" || filepath.Ext(manifest) != ".yaml" && filepath.Ext(manifest) != ".yml" {
		return nil, nil
	}
	abs, err := filepath.Abs(manifest)
	if err != nil {
		return nil, err
	}
	// The manifest's paths (its data dir) are the node's: under the root
	// when the manifest is, as discovery read them.
	dir := filepath.Dir(abs)
	if root == "" {
		root = "/"
	}
	if r, err := filepath.Abs(root); err == nil {
		root = r
	}
	nodeDir := dir
	if rel, err := filepath.Rel(root, dir); err == nil && !strings.HasPrefix(rel, "..") {
		nodeDir = filepath.Join("/", rel)
	} else {
		root = "/"
	}
	l, err := bg.ResolveLayout(bg.LayoutOptions{Root: root, ManifestDir: nodeDir})
	if err != nil {
		return nil, err
	}
	// The same measurement as breakglass probes (at most 256 MiB or 3 s of
	// the DB, its cached pages dropped): one method, one finding.
	r, _, err := bg.Probes(l, bg.ProbesOptions{Thresholds: t})
	if errors.Is(err, bg.ErrNoManifests) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	facts := r.Facts(relaxCommand(root, nodeDir, judge))
	return &facts, nil
}

// relaxCommand is `breakglass probes --relax` finding the same manifest:
// with --root and --manifest-dir when they are not kubeadm's (the kubelet's
// config could name another directory), and judging as this run does
// (judge: its --preset/--set for probes).
func relaxCommand(root, dir string, judge []string) string {
	argv := append([]string{"etcdmedic", "breakglass", "probes", "--relax"}, judge...)
	if root != "/" {
		argv = append(argv, "--root", root)
	}
	if dir != bg.DefaultStaticPodPath {
		argv = append(argv, "--manifest-dir", dir)
	}
	return cluster.ShellJoin(argv)
}

// probeFinding is the local probe budget judged beside a cluster run (nil:
// nothing to judge). A manifest whose data dir is not on this machine (one
// copied from a node, given with --manifest) has no start time here.
func probeFinding(manifest, root string, t health.Thresholds, judge []string) *health.Finding {
	facts, err := localProbes(manifest, root, t, judge)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		f := health.ProbeBudgetUnknown(manifest, err)
		return &f
	case facts == nil:
		return nil
	}
	f := health.JudgeProbeBudget(*facts, t)
	return &f
}

// pendingProbe is the local probe budget being measured beside a cluster run.
type pendingProbe struct {
	done chan struct{}
	f    *health.Finding
}

// startProbe measures the local member's probe budget in the background
// (nil local: not a node with a manifest, nothing to judge).
func startProbe(local *cluster.LocalMember, root string, t health.Thresholds, judge []string) *pendingProbe {
	p := &pendingProbe{done: make(chan struct{})}
	if local == nil {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		p.f = probeFinding(local.Manifest, root, t, judge)
	}()
	return p
}

// addTo adds the finding to a report once measured (the same finding every
// --watch round: the manifest and the DB size do not change by the second).
func (p *pendingProbe) addTo(r *health.Report) {
	<-p.done
	if p.f != nil {
		health.AddFindings(r, *p.f)
	}
}
