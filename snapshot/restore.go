package snapshot

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/coreos/go-semver/semver"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/etcdbin"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// DefaultRevisionBump is etcd's documented example for a Kubernetes restore:
// a billion revisions covers a week of 1500 writes/s between snapshot and restore.
const DefaultRevisionBump = 1_000_000_000

// MaxRevisionBump bounds --bump-revision: etcd's revisions are int64, and a
// bump that does not fit beside the snapshot's revision would wrap the
// restored one negative. Half the range leaves the other half for the
// revision itself, more than any cluster will reach.
const MaxRevisionBump = math.MaxInt64 / 2

// ErrDataDirNotEmpty refuses to restore over existing data: a refusal.
var ErrDataDirNotEmpty = fault.New(fault.Refused, "data dir is not empty")

// RestoreOptions mirror etcdutl snapshot restore.
type RestoreOptions struct {
	File                string
	DataDir             string
	Name                string
	InitialCluster      string
	PeerURLs            []string
	InitialClusterToken string
	// RevisionBump with MarkCompacted: see the restore command's help.
	RevisionBump  uint64
	MarkCompacted bool
	TempDir       string
	// EtcdutlBinary runs this etcdutl for the restore instead of etcdutl's
	// library; the release build (-tags slim), which links none, runs the
	// etcdutl beside it or on PATH when empty (FindRestoreTool).
	EtcdutlBinary string
}

// Defaults fills what etcdutl would default.
func (o *RestoreOptions) Defaults() {
	if o.Name == "" {
		o.Name = "default"
	}
	if len(o.PeerURLs) == 0 {
		o.PeerURLs = []string{"http://localhost:2380"}
	}
	if o.InitialCluster == "" {
		var parts []string
		for _, u := range o.PeerURLs {
			parts = append(parts, o.Name+"="+u)
		}
		o.InitialCluster = strings.Join(parts, ",")
	}
	if o.InitialClusterToken == "" {
		o.InitialClusterToken = "etcd-cluster"
	}
}

// ValidateFlags applies the defaults to a copy and validates it: bad flags
// are found before any file is read.
func (o RestoreOptions) ValidateFlags() error {
	o.Defaults()
	return o.Validate()
}

// Validate checks the options before any work.
func (o *RestoreOptions) Validate() error {
	if o.DataDir == "" {
		return errors.New("--data-dir is required")
	}
	if o.MarkCompacted && o.RevisionBump == 0 {
		return errors.New("--mark-compacted needs --bump-revision > 0")
	}
	if o.RevisionBump > MaxRevisionBump {
		return fmt.Errorf("--bump-revision %d is more than %d: the restored revision would not fit in etcd's int64", o.RevisionBump, uint64(MaxRevisionBump))
	}
	members, err := ParseInitialCluster(o.InitialCluster)
	if err != nil {
		return err
	}
	urls, ok := members[o.Name]
	if !ok {
		return fmt.Errorf("--name %q is not in --initial-cluster %q", o.Name, o.InitialCluster)
	}
	for _, u := range o.PeerURLs {
		if !contains(urls, u) {
			return fmt.Errorf("--initial-advertise-peer-urls %s is not %s's URL in --initial-cluster", u, o.Name)
		}
	}
	return nil
}

// CheckEmpty refuses a data dir that holds anything.
func CheckEmpty(dir string) error {
	des, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(des) > 0 {
		return fmt.Errorf("%w: %s holds %d entries (move it aside first; restore never overwrites)", ErrDataDirNotEmpty, dir, len(des))
	}
	return nil
}

// RestoreResult reports a restore.
type RestoreResult struct {
	DataDir          string        `json:"dataDir"`
	Name             string        `json:"name"`
	Verify           *VerifyResult `json:"verify"`
	Revision         int64         `json:"revision"`
	RestoredRevision int64         `json:"restoredRevision"`
	RevisionBump     uint64        `json:"revisionBump"`
	MarkCompacted    bool          `json:"markCompacted"`
	// Warnings say what may keep the restored data dir from starting.
	Warnings []string `json:"warnings"`
	// Etcdutl is the etcdutl binary that restored (absent: the library
	// linked into the full build).
	Etcdutl *etcdbin.Tool `json:"etcdutl,omitempty"`
}

// Restore verifies the snapshot and writes a new member data dir from it with
// etcdutl's restore (new cluster and member IDs, the given membership): its
// library in the full build, an etcdutl binary in the release build or
// with EtcdutlBinary.
func Restore(ctx context.Context, o RestoreOptions) (*RestoreResult, error) {
	o.Defaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := CheckEmpty(o.DataDir); err != nil {
		return nil, err
	}
	bin, err := FindRestoreTool(o.EtcdutlBinary)
	if err != nil {
		return nil, err
	}
	vr, dbPath, err := Verify(ctx, o.File, VerifyOptions{TempDir: o.TempDir, KeepDecompressed: true})
	if err != nil {
		return nil, err
	}
	res := &RestoreResult{DataDir: o.DataDir, Name: o.Name, Verify: vr, Revision: vr.Revision, RevisionBump: o.RevisionBump, MarkCompacted: o.MarkCompacted,
		Warnings: []string{}}
	if note := storageVersionNote(vr.Version); note != "" {
		res.Warnings = append(res.Warnings, note)
	}
	if err := vr.Err(); err != nil {
		return res, err
	}
	if vr.Revision > math.MaxInt64-int64(o.RevisionBump) {
		return res, fault.Mark(fmt.Errorf("--bump-revision %d: revision %d + %d does not fit in etcd's int64", o.RevisionBump, vr.Revision, o.RevisionBump), fault.Invalid)
	}
	if dbPath == "" {
		dbPath = o.File
	} else {
		defer os.Remove(dbPath)
	}
	res.Etcdutl = etcdbin.DescribeRun(ctx, "etcdutl", bin)
	err = runRestore(ctx, bin, restoreConfig{
		SnapshotPath:        dbPath,
		Name:                o.Name,
		OutputDataDir:       o.DataDir,
		PeerURLs:            o.PeerURLs,
		InitialCluster:      o.InitialCluster,
		InitialClusterToken: o.InitialClusterToken,
		// A database without an appended hash (copied from a data dir) can only be restored skipping the check.
		SkipHashCheck: vr.Integrity == string(integrityMissing),
		RevisionBump:  o.RevisionBump,
		MarkCompacted: o.MarkCompacted,
	})
	if err != nil {
		return res, fmt.Errorf("restore %s into %s: %w", o.File, o.DataDir, err)
	}
	res.RestoredRevision = vr.Revision + int64(o.RevisionBump)
	return res, nil
}

// ParseInitialCluster parses name=url,name=url (a name may repeat for several URLs).
func ParseInitialCluster(s string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, u, ok := strings.Cut(part, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--initial-cluster: %q is not name=peerURL", part)
		}
		pu, err := url.Parse(u)
		if err != nil || pu.Host == "" || (pu.Scheme != "http" && pu.Scheme != "https") {
			return nil, fmt.Errorf("--initial-cluster: %q: peer URL must be http(s)://host:port", part)
		}
		out[name] = append(out[name], u)
	}
	if len(out) == 0 {
		return nil, errors.New("--initial-cluster is empty")
	}
	return out, nil
}

// PlanStep is the restore command for one member.
type PlanStep struct {
	Name     string   `json:"name"`
	PeerURLs []string `json:"peerURLs"`
	Argv     []string `json:"argv"`
	Command  string   `json:"command"`
}

// RestorePlan prints, for every member of initialCluster, the exact command
// that restores it. All members restore the same file with the same token,
// bump and membership; only name and peer URLs differ. carry are flags of
// the planning run each command needs too (--identity).
func RestorePlan(o RestoreOptions, self string, carry ...string) ([]PlanStep, error) {
	members, err := ParseInitialCluster(o.InitialCluster)
	if err != nil {
		return nil, err
	}
	if o.DataDir == "" {
		return nil, errors.New("--data-dir is required (the same path on every member)")
	}
	if o.InitialClusterToken == "" {
		o.InitialClusterToken = "etcd-cluster"
	}
	names := make([]string, 0, len(members))
	for n := range members {
		names = append(names, n)
	}
	sort.Strings(names)
	var steps []PlanStep
	for _, n := range names {
		argv := []string{self, "snapshot", "restore", o.File,
			"--data-dir", o.DataDir, "--name", n,
			"--initial-cluster", o.InitialCluster,
			"--initial-advertise-peer-urls", strings.Join(members[n], ","),
			"--initial-cluster-token", o.InitialClusterToken,
			"--bump-revision", fmt.Sprint(o.RevisionBump)}
		if o.MarkCompacted {
			argv = append(argv, "--mark-compacted")
		} else {
			argv = append(argv, "--mark-compacted=false")
		}
		if o.EtcdutlBinary != "" {
			argv = append(argv, "--etcdutl-binary", o.EtcdutlBinary)
		}
		if o.TempDir != "" {
			argv = append(argv, "--temp-dir", o.TempDir)
		}
		argv = append(argv, carry...)
		steps = append(steps, PlanStep{Name: n, PeerURLs: members[n], Argv: argv, Command: cluster.ShellJoin(argv)})
	}
	return steps, nil
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// storageVersionNote warns when etcd v3.6, which refuses a database whose
// storage version is newer than its own, cannot start the restored data dir.
// etcd v3.5 does not check the storage version.
func storageVersionNote(storageVersion string) string {
	v, err := semver.NewVersion(storageVersion)
	if err != nil || !semver.New("3.6.0").LessThan(*v) {
		return ""
	}
	return fmt.Sprintf("storage version %s: etcd v3.6 servers refuse this data dir; run it with v%d.%d or newer", storageVersion, v.Major, v.Minor)
}
