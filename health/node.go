package health

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/humanize"
)

// Certificate expiry levels (the issue's; kubeadm renews a year's
// certificates on upgrade, so 30 days is a month's warning and 7 a week's).
const (
	CertWarnLeft = 30 * 24 * time.Hour
	CertCritLeft = 7 * 24 * time.Hour
)

// NodeOptions say what `doctor --node` looks at on this machine.
type NodeOptions struct {
	Preset     string
	Thresholds Thresholds
	// DataDir is etcd's --data-dir; the probe file goes there.
	DataDir string
	// Flags are the etcd command line's flags (from the static-pod manifest),
	// nil when no manifest was found.
	Flags map[string]string
	// Manifest names where Flags came from, for the findings; ManifestErr
	// says why none could be read (unreadable, not a Pod).
	Manifest    string
	ManifestErr error
	// APIServerFlags are kube-apiserver's flags, nil when unknown
	// (APIServerErr says why), read from APIServerManifest.
	APIServerFlags    map[string]string
	APIServerManifest string
	APIServerErr      error
	// Cluster, when set, reaches the local member for the revision growth
	// rate: two readings Window apart, taken while the disk is probed.
	Cluster    *cluster.Cluster
	ClusterErr error
	Window     time.Duration
	// Probes are the etcd static pod's probe budgets against this member's
	// expected start (nil with ProbesErr nil: not a static pod, not judged).
	Probes    *ProbeFacts
	ProbesErr error
	// ExtraCerts are more certificate files to check (the client
	// certificate etcdmedic itself connects with).
	ExtraCerts []string
	Probe      FsyncProbeOptions
	Now        time.Time
	// Connection and Rerun are as in Options: for advice to paste.
	Connection string
	Rerun      []string
}

// DiagnoseNode checks what the machine under a member can do, without
// loading etcd: the data dir's fdatasync latency with etcd's write pattern,
// free space against the DB, certificate expiry, the compaction settings
// against the revision growth rate (two Status readings, when the member
// answers) and the static pod's probe budget.
// A check that cannot run is unknown with the reason; the others still run.
func DiagnoseNode(ctx context.Context, o NodeOptions) *Report {
	start := time.Now()
	if o.Now.IsZero() {
		o.Now = start
	}
	if o.Probe == (FsyncProbeOptions{}) {
		o.Probe = DefaultFsyncProbe
	}
	d := &judge{t: o.Thresholds, connection: o.Connection, rerun: o.Rerun}
	var growth *Growth
	growthErr := o.ClusterErr
	if growthErr == nil {
		growthErr = errors.New("no connection to the member")
	}
	var wg sync.WaitGroup
	if o.Cluster != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			growth, growthErr = MeasureGrowth(ctx, o.Cluster, max(o.Window, time.Second), o.Flags)
		}()
	}
	d.checkFsyncProbe(ctx, o)
	d.checkFreeSpace(o)
	d.checkCerts(o)
	wg.Wait()
	d.checkCompaction(CompactionInput{EtcdFlags: o.Flags, EtcdSource: o.Manifest, EtcdErr: o.ManifestErr, APIServerFlags: o.APIServerFlags,
		APIServerManifest: o.APIServerManifest, APIServerErr: o.APIServerErr, Growth: growth, GrowthErr: growthErr})
	switch {
	case o.Probes != nil:
		d.add(JudgeProbeBudget(*o.Probes, o.Thresholds))
	case o.ProbesErr != nil:
		d.add(ProbeBudgetUnknown(o.Manifest, o.ProbesErr))
	}
	r := &Report{Started: start.UTC(), Preset: o.Preset, Findings: d.out, Node: true}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	r.Severity = Worst(r.Findings)
	r.TookSeconds = time.Since(start).Seconds()
	return r
}

func (d *judge) checkFsyncProbe(ctx context.Context, o NodeOptions) {
	t := d.t
	f := Finding{ID: "node.fdatasync",
		Threshold: fmt.Sprintf("p99 warn > %s (etcd: < 10ms), crit > %s", ms(t.FsyncWarn), ms(t.FsyncCrit))}
	if o.DataDir == "" {
		f.Severity, f.Observed, f.Short = Unknown, "no data dir", "no data dir"
		f.Explanation = "no --data-dir given and none in the manifest: nothing to probe"
		f.Advice = "name etcd's data dir on this node: " + d.doctorNode("--data-dir", "'<etcd data dir>'")
		d.add(f)
		return
	}
	res, err := ProbeFsync(ctx, o.DataDir, o.Probe)
	if err != nil {
		f.Severity, f.Observed, f.Short = Unknown, err.Error(), "probe failed"
		f.Explanation = "the data dir's filesystem could not be probed (read-only, full, or not there)"
		d.add(f)
		return
	}
	f.Observed = fmt.Sprintf("p50 %s, p99 %s, p99.9 %s over %d writes of %d B (%s, %s)", ms(res.P50), ms(res.P99), ms(res.P999),
		res.Writes, o.Probe.BlockSize, humanize.Bytes(res.Bytes), res.Took.Round(time.Millisecond))
	switch {
	// As the WAL fsync check judges a member's p99: above the level, not at it.
	case res.P99 > t.FsyncCrit:
		f.Severity, f.Short = Crit, "fdatasync p99 "+ms(res.P99)+" > "+ms(t.FsyncCrit)
	case res.P99 > t.FsyncWarn:
		f.Severity, f.Short = Warn, "fdatasync p99 "+ms(res.P99)+" > "+ms(t.FsyncWarn)
	default:
		f.Severity, f.Explanation = OK, "fast enough for etcd's WAL"
	}
	if f.Severity != OK {
		f.Explanation = "every write etcd commits waits for an fdatasync of its WAL; a slow disk makes heartbeats late and leaders change"
		f.Advice = "put etcd's data dir on its own fast disk (SSD/NVMe, not shared with container images or logs)"
	}
	d.add(f)
}

// checkFreeSpace: a defragmentation writes a full copy of the DB before it
// replaces it, and a snapshot saved beside it needs as much again.
func (d *judge) checkFreeSpace(o NodeOptions) {
	f := Finding{ID: "node.freeSpace", Threshold: "crit < DB size, warn < 2 × DB size"}
	if o.DataDir == "" {
		f.Severity, f.Observed, f.Short = Unknown, "no data dir", "no data dir"
		f.Explanation = "no data dir: free space against the DB cannot be judged"
		d.add(f)
		return
	}
	db := filepath.Join(o.DataDir, "member", "snap", "db")
	st, err := os.Stat(db)
	if err != nil {
		f.Severity, f.Observed, f.Short = Unknown, err.Error(), "no DB file"
		f.Explanation = "the DB file is not where etcd keeps it (--data-dir/member/snap/db)"
		d.add(f)
		return
	}
	free, err := freeBytes(o.DataDir)
	if err != nil {
		f.Severity, f.Observed, f.Short = Unknown, err.Error(), "free space unknown"
		f.Explanation = "the filesystem's free space could not be read"
		d.add(f)
		return
	}
	size := st.Size()
	f.Observed = fmt.Sprintf("%s free, DB %s", humanize.Bytes(free), humanize.Bytes(size))
	switch {
	case free < size:
		f.Severity, f.Short = Crit, "free "+humanize.Bytes(free)+" < DB "+humanize.Bytes(size)
	case free < 2*size:
		f.Severity, f.Short = Warn, "free "+humanize.Bytes(free)+" < 2 × DB"
	default:
		f.Severity, f.Explanation = OK, "room for a defragmentation's copy and a snapshot"
	}
	if f.Severity != OK {
		f.Explanation = "a defragmentation writes a copy of the whole DB before replacing it, and a snapshot needs as much again; out of space, etcd stops"
		f.Advice = "free space on the data dir's filesystem, or save snapshots elsewhere: " + d.cmd("snapshot save", "'<dir on another disk>'")
	}
	d.add(f)
}

// certFlags are the etcd flags that name certificates.
var certFlags = []string{"trusted-ca-file", "cert-file", "peer-trusted-ca-file", "peer-cert-file"}

func (d *judge) checkCerts(o NodeOptions) {
	seen := map[string]bool{}
	var files []string
	add := func(p string) {
		if p != "" && !seen[p] {
			seen[p] = true
			files = append(files, p)
		}
	}
	for _, fl := range certFlags {
		add(o.Flags[fl])
	}
	for _, p := range o.ExtraCerts {
		add(p)
	}
	if len(files) == 0 {
		observed := "no certificate files known"
		if o.ManifestErr != nil {
			observed += ": " + o.ManifestErr.Error()
		}
		f := Finding{ID: "node.certExpiry", Severity: Unknown, Observed: observed, Short: "no certificates known",
			Explanation: "no manifest names certificate files (or etcd serves plain HTTP), so expiry cannot be checked",
			Advice:      "name etcd's static-pod manifest: " + d.doctorNode("--manifest", "'<etcd manifest>'")}
		if o.Manifest != "" && o.ManifestErr == nil {
			// The manifest was read and names none: etcd serves plain HTTP.
			// Pointing at a manifest again would not help.
			f.Observed = "no certificate files in " + o.Manifest
			f.Explanation = "etcd's manifest names no certificate files (plain HTTP), so there is no expiry to check"
			f.Advice = ""
		}
		d.add(f)
		return
	}
	for _, p := range files {
		d.add(certExpiry(p, o.Now))
	}
}

func certExpiry(path string, now time.Time) Finding {
	f := Finding{ID: "node.certExpiry", Member: path,
		Threshold: fmt.Sprintf("warn < %dd left, crit < %dd", int(CertWarnLeft.Hours()/24), int(CertCritLeft.Hours()/24))}
	first, err := EarliestExpiry(path)
	if err != nil {
		f.Severity, f.Observed, f.Short = Unknown, err.Error(), "unreadable"
		f.Explanation = "the certificate file could not be read"
		return f
	}
	left := first.NotAfter.Sub(now)
	f.Observed = fmt.Sprintf("%s: %q expires %s (%s left)", path, first.Subject.CommonName, first.NotAfter.UTC().Format(time.RFC3339), days(left))
	switch {
	case left <= 0:
		f.Severity, f.Short = Crit, filepath.Base(path)+" expired"
		f.Explanation = "an expired certificate: members and clients using it are refused"
	case left < CertCritLeft:
		f.Severity, f.Short = Crit, filepath.Base(path)+" expires in "+days(left)
	case left < CertWarnLeft:
		f.Severity, f.Short = Warn, filepath.Base(path)+" expires in "+days(left)
	default:
		f.Severity, f.Explanation = OK, "valid for "+days(left)
	}
	if f.Severity != OK {
		if f.Explanation == "" {
			f.Explanation = "when it expires, peers and clients using it are refused: quorum can be lost on one day"
		}
		f.Advice = "renew it before then (kubeadm: kubeadm certs renew etcd-server etcd-peer etcd-healthcheck-client apiserver-etcd-client, then restart etcd)"
	}
	return f
}

func days(d time.Duration) string {
	if d < 48*time.Hour {
		return fmt.Sprintf("%.0fh", d.Hours())
	}
	return fmt.Sprintf("%.0fd", d.Hours()/24)
}

var errNoCert = errors.New("no CERTIFICATE block")
