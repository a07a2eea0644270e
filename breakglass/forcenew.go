package breakglass

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/storage/datadir"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// forceReason starts the Detail of every manifest edit of force-new-cluster;
// --remove-flag finds its open edits by it.
const forceReason = "force-new-cluster"

// ForceNewOptions are the choices of one force-new-cluster run.
type ForceNewOptions struct {
	// Cluster reaches the local member (its endpoint first) and, for the
	// split-brain check, the old members; required.
	Cluster *cluster.Cluster
	// Offline: the member is stopped (a disk under --root): only back up
	// and edit the manifest; the flag is removed after its first start.
	Offline bool
	// QuorumIsLost overrides the split-brain refusal; ClusterID must then
	// be the cluster's ID.
	QuorumIsLost bool
	ClusterID    string
	// Wait bounds each wait: etcd stopping, serving forced, serving again.
	Wait time.Duration
}

// OldMember is a member of the cluster before the force, and whether it
// answered now.
type OldMember struct {
	ID         string   `json:"id"`
	Name       string   `json:"name,omitempty"`
	ClientURLs []string `json:"clientURLs,omitempty"`
	PeerURLs   []string `json:"peerURLs,omitempty"`
	Self       bool     `json:"self,omitempty"`
	Answered   bool     `json:"answered"`
	Error      string   `json:"error,omitempty"`
}

// ForceNewReport is the plan (Done false) or what was done.
type ForceNewReport struct {
	Offline    bool        `json:"offline"`
	Manifest   string      `json:"manifest"`
	DataDir    string      `json:"dataDir"`
	MemberID   string      `json:"memberID"`
	ClusterID  string      `json:"clusterID"`
	OldMembers []OldMember `json:"oldMembers"`
	// DataDirBytes is the size of the backup to be made.
	DataDirBytes int64  `json:"dataDirBytes"`
	BackupDir    string `json:"backupDir"`
	// Revision and CommittedIndex are the backup's: the forced member must
	// serve at least that revision ("the old data").
	Revision       int64          `json:"revision,omitempty"`
	CommittedIndex uint64         `json:"committedIndex,omitempty"`
	Edits          []ManifestEdit `json:"edits,omitempty"`
	// ServedAlone: it served as a one-member cluster with the old data.
	ServedAlone bool `json:"servedAlone"`
	FlagRemoved bool `json:"flagRemoved"`
	// ServedAfter: it served again, still alone, once the flag was gone.
	ServedAfter bool `json:"servedAfter"`
	Done        bool `json:"done"`

	// term is the raft term it last served at; afterTerm the one a
	// restart must reach.
	term, afterTerm uint64
}

// ErrSplitBrain: another member of the old cluster answers.
var ErrSplitBrain = errors.New("another member of the old cluster answers")

// PlanForceNewCluster checks everything and changes nothing: the member's
// identity and old member list, that no other old member answers (unless
// the quorum is declared lost with the cluster ID), that the flag is not
// already in, and the space for the data dir's backup.
func PlanForceNewCluster(ctx context.Context, l *Layout, j *Journal, o ForceNewOptions) (*ForceNewReport, *Manifest, error) {
	m, err := l.etcdManifest()
	if err != nil {
		return nil, nil, err
	}
	dd, err := EtcdDataDir(l)
	if err != nil {
		return nil, nil, err
	}
	r := &ForceNewReport{Offline: o.Offline, Manifest: l.Rel(m.Path), DataDir: l.Rel(dd), BackupDir: l.Rel(newBackupDir(l.StateDir, "force-new-cluster"))}
	if etcdArgs(m).Has("force-new-cluster") {
		return r, m, fault.Mark(fmt.Errorf("%s already has --force-new-cluster: a flag left in place forces again at every start; remove it first ('breakglass force-new-cluster --remove-flag')", r.Manifest), fault.Refused)
	}
	if o.Offline {
		err = r.readOffline(dd)
	} else {
		err = r.readOnline(ctx, o.Cluster)
	}
	if err != nil {
		return r, m, err
	}
	r.probeOthers(ctx, o.Cluster)
	var answering []string
	for _, om := range r.OldMembers {
		if !om.Self && om.Answered {
			answering = append(answering, firstNonEmpty(om.Name, om.ID)+" ("+strings.Join(om.ClientURLs, ",")+")")
		}
	}
	switch {
	case o.QuorumIsLost && o.ClusterID == "":
		return r, m, fault.Mark(fmt.Errorf("--quorum-is-lost needs the cluster ID typed back: --cluster-id %s", r.ClusterID), fault.Invalid)
	case o.QuorumIsLost && !strings.EqualFold(strings.TrimLeft(o.ClusterID, "0"), strings.TrimLeft(r.ClusterID, "0")):
		return r, m, fault.Mark(fmt.Errorf("--cluster-id %s is not this member's cluster %s", o.ClusterID, r.ClusterID), fault.Refused)
	case len(answering) > 0 && !o.QuorumIsLost:
		return r, m, fault.Mark(fmt.Errorf("%w: %s — they may still form a quorum, and a forced member beside them splits the cluster in two; stop them (etcd-only --root on their disks) or, if they truly cannot form a quorum, pass --quorum-is-lost --cluster-id %s", ErrSplitBrain, strings.Join(answering, ", "), r.ClusterID), fault.Refused)
	}
	if r.DataDirBytes, err = treeBytes(dd); err != nil {
		return r, m, err
	}
	return r, m, CheckSpace(SpaceNeed{Dir: l.StateDir, Bytes: r.DataDirBytes})
}

// readOffline takes identity and members from the stopped member's data dir.
func (r *ForceNewReport) readOffline(dd string) error {
	d := ReadDataDir(dd)
	if d.Locked {
		return fault.Mark(fmt.Errorf("%s is held by a running etcd: offline mode needs it stopped (run on its node without --root)", dd), fault.Refused)
	}
	if len(d.Problems) > 0 {
		return fault.Mark(fmt.Errorf("%s: %s", dd, strings.Join(d.Problems, "; ")), fault.Invalid)
	}
	r.MemberID, r.ClusterID = d.MemberID, d.ClusterID
	for _, mu := range d.memberURLs {
		r.OldMembers = append(r.OldMembers, OldMember{ID: mu.ID, Name: mu.Name, ClientURLs: mu.ClientURLs, PeerURLs: mu.PeerURLs, Self: mu.ID == d.MemberID})
	}
	return nil
}

// readOnline asks the local member for its member list without needing a
// leader (a serializable MemberList): without quorum there is none.
func (r *ForceNewReport) readOnline(ctx context.Context, c *cluster.Cluster) error {
	ep := c.Config.Endpoints[0]
	cli, err := c.Client(ctx, ep)
	if err != nil {
		return fault.Mark(fmt.Errorf("the local member at %s: %w", ep, err), fault.Indeterminate)
	}
	cctx, cancel := c.WithCommandTimeout(ctx)
	defer cancel()
	resp, err := cli.MemberList(cctx, clientv3.WithSerializable())
	if err != nil {
		return fault.Mark(fmt.Errorf("member list from %s: %w", ep, err), fault.Indeterminate)
	}
	r.MemberID, r.ClusterID = cluster.FormatID(resp.Header.MemberId), cluster.FormatID(resp.Header.ClusterId)
	for _, pm := range resp.Members {
		r.OldMembers = append(r.OldMembers, OldMember{ID: cluster.FormatID(pm.ID), Name: pm.Name, ClientURLs: pm.ClientURLs, PeerURLs: pm.PeerURLs, Self: pm.ID == resp.Header.MemberId})
	}
	return nil
}

// probeOthers asks each other old member for its status, bounded by the
// dial and command timeouts; an answer from the same cluster counts.
func (r *ForceNewReport) probeOthers(ctx context.Context, c *cluster.Cluster) {
	for i := range r.OldMembers {
		om := &r.OldMembers[i]
		if om.Self {
			continue
		}
		for _, u := range om.ClientURLs {
			cli, err := c.Client(ctx, u)
			if err != nil {
				om.Error = err.Error()
				continue
			}
			cctx, cancel := c.WithCommandTimeout(ctx)
			st, err := cli.Status(cctx, u)
			cancel()
			if err != nil {
				om.Error = err.Error()
				continue
			}
			if cluster.FormatID(st.Header.ClusterId) == r.ClusterID {
				om.Answered, om.Error = true, ""
				break
			}
		}
	}
}

func etcdContainer(pod *corev1.Pod) *corev1.Container {
	for i := range pod.Spec.Containers {
		if component(&corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{pod.Spec.Containers[i]}}}) == Etcd {
			return &pod.Spec.Containers[i]
		}
	}
	return &pod.Spec.Containers[0]
}

func etcdArgs(m *Manifest) *ContainerArgs {
	c := etcdContainer(m.Pod)
	return NewContainerArgs(c.Command, c.Args)
}

// withForceFlag is the manifest with --force-new-cluster added.
func withForceFlag(m *Manifest) ([]byte, error) {
	pod := m.Pod.DeepCopy()
	c := etcdContainer(pod)
	args := NewContainerArgs(c.Command, c.Args)
	args.Set("force-new-cluster", "true")
	c.Command, c.Args = args.Command(), args.Args()
	return yaml.Marshal(pod)
}

// ForceNewCluster runs the plan. Online: the manifest goes (the kubelet
// stops etcd), the data dir is backed up once the lock is free, the manifest
// comes back with --force-new-cluster, and once the member serves alone with
// the old data the original manifest is put back byte-identical. Offline:
// the backup and the flagged manifest only. Every manifest change is
// journaled before it is made.
func ForceNewCluster(ctx context.Context, l *Layout, j *Journal, o ForceNewOptions) (*ForceNewReport, error) {
	r, m, err := PlanForceNewCluster(ctx, l, j, o)
	if err != nil {
		return nil, err
	}
	dd, _ := EtcdDataDir(l)
	flagged, err := withForceFlag(m)
	if err != nil {
		return nil, err
	}
	mode := os.FileMode(0o600)
	if st, err := os.Stat(m.Path); err == nil {
		mode = st.Mode().Perm()
	}
	edit := func(want string, data []byte, why string) error {
		ed, err := EditManifest(l, j, m.Path, want, data, mode, forceReason+": "+why)
		if ed.Seq != 0 {
			r.Edits = append(r.Edits, ed)
		}
		return err
	}
	want := m.SHA256
	if !o.Offline {
		if err := edit(want, nil, "etcd stopped to back up its data dir"); err != nil {
			return r, err
		}
		want = ""
		if err := waitUnlocked(ctx, datadir.ToBackendFileName(dd), o.Wait); err != nil {
			return r, fault.Mark(fmt.Errorf("%w; 'breakglass undo' puts the manifest back", err), fault.Failed)
		}
	}
	backup, err := BackupFiles(dd, l.abs(r.BackupDir))
	if err != nil {
		return r, fmt.Errorf("back up %s: %w; 'breakglass undo' puts the manifest back", r.DataDir, err)
	}
	b := ReadDataDir(backup.Dir)
	r.Revision, r.CommittedIndex = b.Revision, b.Committed
	if err := edit(want, flagged, "flag added; data dir backed up to "+r.BackupDir); err != nil {
		return r, err
	}
	r.journalLost(j)
	if o.Offline {
		return r, nil
	}
	if err := waitServing(ctx, o.Cluster, r, o.Wait); err != nil {
		return r, fault.Mark(fmt.Errorf("%w; the flag is still in %s: once it serves, remove it with 'breakglass force-new-cluster --remove-flag' (or put everything back with 'breakglass undo')", err, r.Manifest), fault.Failed)
	}
	r.ServedAlone = true
	if err := RemoveForceFlag(l, j, r); err != nil {
		return r, err
	}
	// Served again means by a process started from the restored manifest:
	// a restarted lone member elects itself at a higher term.
	r.afterTerm = r.term + 1
	if err := waitServing(ctx, o.Cluster, r, o.Wait); err != nil {
		return r, fault.Mark(fmt.Errorf("after the flag was removed: %w", err), fault.Failed)
	}
	r.ServedAfter, r.Done = true, true
	return r, nil
}

// RemoveForceFlag puts the manifest back as it was before force-new-cluster,
// byte-identical, in one atomic write, and journals those edits as undone.
func RemoveForceFlag(l *Layout, j *Journal, r *ForceNewReport) error {
	chain, err := openEdits(j, r.Manifest, forceReason)
	if err != nil {
		return err
	}
	if len(chain) == 0 {
		return fault.Mark(fmt.Errorf("the journal has no force-new-cluster edit of %s to take back", r.Manifest), fault.Refused)
	}
	if _, err := RevertAndJournal(l, j, chain); err != nil {
		return fault.Mark(fmt.Errorf("remove --force-new-cluster: %w", err), fault.Failed)
	}
	r.FlagRemoved = true
	return nil
}

// waitUnlocked polls until no process holds the bolt file: etcd has stopped.
func waitUnlocked(ctx context.Context, db string, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		bdb, err := bolt.Open(db, 0o400, &bolt.Options{ReadOnly: true, Timeout: boltLockTimeout})
		if err == nil {
			return bdb.Close()
		}
		if !errors.Is(err, berrors.ErrTimeout) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("etcd still holds %s after %s (the kubelet looks at its directory every 20 s)", db, wait)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitServing polls the local member until it answers a linearizable
// member list naming only itself and serves at least the backup's revision.
func waitServing(ctx context.Context, c *cluster.Cluster, r *ForceNewReport, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	ep := c.Config.Endpoints[0]
	var last error
	for {
		last = servingAlone(ctx, c, ep, r)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not serve as a one-member cluster with the old data within %s: %w", ep, wait, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func servingAlone(ctx context.Context, c *cluster.Cluster, ep string, r *ForceNewReport) error {
	cli, err := c.Client(ctx, ep)
	if err != nil {
		return err
	}
	cctx, cancel := c.WithCommandTimeout(ctx)
	defer cancel()
	ml, err := cli.MemberList(cctx)
	if err != nil {
		return err
	}
	if len(ml.Members) != 1 || cluster.FormatID(ml.Members[0].ID) != r.MemberID {
		return fmt.Errorf("%d members listed", len(ml.Members))
	}
	st, err := cli.Status(cctx, ep)
	if err != nil {
		return err
	}
	if st.Header.Revision < r.Revision {
		return fmt.Errorf("serves revision %d, below the old data's %d", st.Header.Revision, r.Revision)
	}
	if st.RaftTerm < r.afterTerm {
		return fmt.Errorf("still the process started with --force-new-cluster (term %d)", st.RaftTerm)
	}
	r.term = st.RaftTerm
	return nil
}

// PlanRemoveForceFlag finds the force-new-cluster edits of the etcd manifest
// still open; refused when there are none.
func PlanRemoveForceFlag(l *Layout, j *Journal) (*ForceNewReport, error) {
	path := filepath.Join(l.ManifestDir, "etcd.yaml")
	if m, err := l.etcdManifest(); err == nil {
		path = m.Path
	}
	r := &ForceNewReport{Manifest: l.Rel(path)}
	chain, err := openEdits(j, r.Manifest, forceReason)
	if err != nil {
		return r, err
	}
	if len(chain) == 0 {
		return r, fault.Mark(fmt.Errorf("the journal has no force-new-cluster edit of %s to take back", r.Manifest), fault.Refused)
	}
	for _, e := range chain {
		r.Edits = append(r.Edits, ManifestEdit{Path: e.Path, Backup: e.To, To: e.SHA256, Seq: e.Seq, Why: e.Detail})
	}
	return r, nil
}
