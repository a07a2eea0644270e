// Package defrag plans and runs rolling defragmentation that never costs
// quorum: one voter at a time, every gate re-checked before every member,
// leadership moved away before the leader's turn, and each member waited for
// until it serves again. It is built to be scheduled: a cluster-wide lock,
// JSON events, a Prometheus textfile, exit codes.
package defrag

import "time"

// Event kinds, one JSON line each with -o json. Names are a contract.
const (
	EventLock        = "lock"
	EventPlan        = "plan"
	EventCompact     = "compact"
	EventGate        = "gate"
	EventSkip        = "skip"
	EventLeaderMove  = "leaderMove"
	EventMemberStart = "memberStart"
	EventMemberDone  = "memberDone"
	EventDisarm      = "disarm"
	EventVerifyHash  = "verifyHash"
	EventWarning     = "warning"
	EventSummary     = "summary"
)

// Event is one step of a run.
type Event struct {
	Time       time.Time `json:"time"`
	Event      string    `json:"event"`
	Member     string    `json:"member,omitempty"`
	MemberName string    `json:"memberName,omitempty"`
	OK         bool      `json:"ok"`
	Message    string    `json:"message,omitempty"`

	DBSizeBefore     int64   `json:"dbSizeBefore,omitempty"`
	DBSizeAfter      int64   `json:"dbSizeAfter,omitempty"`
	DurationSeconds  float64 `json:"durationSeconds,omitempty"`
	PredictedSeconds float64 `json:"predictedSeconds,omitempty"`
	// StopGRPCServiceOnDefrag, on memberDone: what the member's gRPC health
	// service said while it defragmented (on: NOT_SERVING, off: SERVING).
	StopGRPCServiceOnDefrag string `json:"stopGRPCServiceOnDefrag,omitempty"`

	Plan    []PlanEntry `json:"plan,omitempty"`
	Summary *Summary    `json:"summary,omitempty"`
}

// PlanEntry is one member's place in the plan.
type PlanEntry struct {
	Member           string  `json:"member"`
	MemberName       string  `json:"memberName"`
	Role             string  `json:"role"` // follower, leader, learner
	Defragment       bool    `json:"defragment"`
	Reason           string  `json:"reason"`
	DBSize           int64   `json:"dbSize"`
	ReclaimableBytes int64   `json:"reclaimableBytes"`
	PredictedSeconds float64 `json:"predictedSeconds"`
	// StopGRPCServiceOnDefrag: whether the member reports NOT_SERVING on gRPC
	// health while it defragments, so health-checking clients route around
	// it: on, off (read from the local kubeadm manifest) or unknown.
	StopGRPCServiceOnDefrag string `json:"stopGRPCServiceOnDefrag"`
}

// MemberResult is what happened to one member.
type MemberResult struct {
	Member          string  `json:"member"`
	MemberName      string  `json:"memberName"`
	Outcome         string  `json:"outcome"` // defragmented, skipped, failed, notStarted
	Reason          string  `json:"reason,omitempty"`
	DBSizeBefore    int64   `json:"dbSizeBefore"`
	DBSizeAfter     int64   `json:"dbSizeAfter"`
	DurationSeconds float64 `json:"durationSeconds"`
	// StopGRPCServiceOnDefrag as observed during this member's defragmentation.
	StopGRPCServiceOnDefrag string `json:"stopGRPCServiceOnDefrag,omitempty"`
}

// Summary closes a run.
type Summary struct {
	Started        time.Time      `json:"started"`
	TookSeconds    float64        `json:"tookSeconds"`
	DryRun         bool           `json:"dryRun"`
	Defragmented   int            `json:"defragmented"`
	ReclaimedBytes int64          `json:"reclaimedBytes"`
	Members        []MemberResult `json:"members"`
	StoppedBy      string         `json:"stoppedBy,omitempty"` // why the run ended early
	// StoppedOnHealth: the cluster's state ended the run (a gate, a
	// member's failure), not the lock or a missing confirmation.
	StoppedOnHealth bool `json:"-"`
	// ExitCode is filled in by the command from Fault (commands/cmdutil
	// owns the numbers); it stays in the JSON for cron wrappers.
	ExitCode int `json:"exitCode"`
	// Fault is how the run ended: nil, or an error marked with a fault kind.
	Fault error `json:"-"`
}
