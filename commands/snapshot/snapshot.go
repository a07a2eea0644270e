// Package snapshot implements `etcdmedic snapshot save|verify|list|prune|restore`.
// The work is in the top-level snapshot package; this one wires flags and renders.
package snapshot

import (
	"errors"
	"fmt"
	"math"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	snap "github.com/etcdmedic/etcdmedic/snapshot"
)

// NewCmdSnapshot is the command group.
func NewCmdSnapshot(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot <command>",
		Short: "Snapshots you can trust: save, verify, list, prune, restore, drill",
		Long: `Save verified snapshots from a healthy caught-up member (a follower by default), check
them again at any time, list and prune them with a retention policy, and restore them
into new member data dirs with one exact command per member.

Snapshots are named etcd-<clusterID>-<revision>-<UTC time>.db (.db.zst compressed),
with <file>.meta.json beside each (etcd version, cluster and member ID, revision, raft
index, size, sha256, key count, creation time). Files are mode 0600. etcdmedic only ever
deletes files with names of that form.`,
	}
	cmd.AddCommand(NewCmdSave(f, nil), NewCmdVerify(f, nil), NewCmdList(f, nil), NewCmdPrune(f, nil), NewCmdRestore(f, nil), NewCmdDrill(f, nil))
	return cmd
}

// sizeValue is a byte size flag: 10Gi, 500M, or plain bytes.
type sizeValue struct{ n *int64 }

func (s sizeValue) String() string {
	if s.n == nil || *s.n == 0 {
		return "0"
	}
	return fmt.Sprint(*s.n)
}

func (s sizeValue) Set(v string) error {
	q, err := resource.ParseQuantity(v)
	if err != nil {
		return fmt.Errorf("%q is not a size (e.g. 10Gi, 500M, 1073741824)", v)
	}
	if q.Sign() < 0 {
		return fmt.Errorf("%q: size must not be negative", v)
	}
	// Value() wraps past 2^63 (1e19 reads as 0, no limit at all) and rounds
	// a fraction up (1m, milli, reads as one byte: delete nearly everything).
	if f := q.AsApproximateFloat64(); f >= math.MaxInt64 {
		return fmt.Errorf("%q: size too large", v)
	}
	if exact := resource.NewQuantity(q.Value(), resource.BinarySI); q.Cmp(*exact) != 0 {
		return fmt.Errorf("%q is not a whole number of bytes (m is milli; M is mega, Mi mebi)", v)
	}
	*s.n = q.Value()
	return nil
}

func (s sizeValue) Type() string { return "size" }

// policyFlags registers the retention flags with a name prefix ("" or "prune-").
func policyFlags(cmd *cobra.Command, p *snap.Policy, prefix string) {
	fs := cmd.Flags()
	fs.IntVar(&p.KeepLast, prefix+"keep-last", p.KeepLast, "keep the newest N snapshots")
	fs.IntVar(&p.KeepHourly, prefix+"keep-hourly", p.KeepHourly, "keep the newest snapshot of each of the last N hours that have one")
	fs.IntVar(&p.KeepDaily, prefix+"keep-daily", p.KeepDaily, "keep the newest snapshot of each of the last N days that have one (UTC)")
	fs.IntVar(&p.KeepWeekly, prefix+"keep-weekly", p.KeepWeekly, "keep the newest snapshot of each of the last N ISO weeks that have one")
	fs.Var(sizeValue{&p.MaxTotalSize}, prefix+"max-total-size", "then delete the oldest kept snapshots until the total fits (e.g. 10Gi)")
	fs.DurationVar(&p.MinAge, prefix+"min-age", p.MinAge, "never delete a snapshot younger than this (e.g. 1h)")
}

func validatePolicy(p snap.Policy) error {
	if p.KeepLast < 0 || p.KeepHourly < 0 || p.KeepDaily < 0 || p.KeepWeekly < 0 || p.MinAge < 0 {
		return cmdutil.UsageError(errors.New("retention counts and --min-age must not be negative"))
	}
	return nil
}

// classify marks a missing input file (a snapshot, a directory) as invalid
// input. Everything else already says what it is: the snapshot package's
// errors carry their fault kinds, and cmdutil.ExitCode maps the cluster's.
func classify(err error) error {
	if err != nil && fault.Kind(err) == nil && snap.IsNotExist(err) {
		return fault.Mark(err, fault.Invalid)
	}
	return err
}
