package member

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/etcdmedic/etcdmedic/internal/atomicfile"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

// The steps of a replacement, in order. Each is journaled once done, so a
// run that stopped anywhere (SIGTERM, a refused gate) goes on from the first
// step not done when the same command runs again.
const (
	StepGate       = "gate"        // every voter healthy, no learner: a learner may be added
	StepAdd        = "add"         // NEW is a learner
	StepPromote    = "promote"     // NEW started, caught up, a voter listed by every member
	StepMoveLeader = "move-leader" // OLD does not lead
	StepStopOld    = "stop-old"    // OLD no longer answers (stopped by the operator), so no client request dies with it
	StepRemove     = "remove"      // OLD is gone from every member's list
	StepVerify     = "verify"      // every voter healthy, HashKV equal
)

// Steps are the replacement's steps in order.
var Steps = []string{StepGate, StepAdd, StepPromote, StepMoveLeader, StepStopOld, StepRemove, StepVerify}

// StepsOldDown are the steps when OLD did not answer as the replacement
// began: it is removed first. etcd refuses to add even a learner while a
// voter is down (--strict-reconfig-check), and removing a member that does
// not answer costs no quorum margin: it counted for none.
var StepsOldDown = []string{StepGate, StepRemove, StepAdd, StepPromote, StepVerify}

// Journal is the state file of one replacement. Its JSON form is a contract:
// an operator reads it to see where a run stopped.
type Journal struct {
	Old      string      `json:"old"`
	OldName  string      `json:"oldName"`
	Name     string      `json:"name"`
	PeerURLs []string    `json:"peerURLs"`
	NewID    string      `json:"newId,omitempty"`
	Start    *StartFlags `json:"start,omitempty"`
	// NewClientURLs are NEW's, once it has started: the verification
	// reaches the cluster through them when every endpoint given was OLD's.
	NewClientURLs []string `json:"newClientURLs,omitempty"`
	// OldDown: OLD did not answer when the replacement began, so it is
	// removed before NEW is added (StepsOldDown).
	OldDown bool     `json:"oldDown,omitempty"`
	Done    []string `json:"done"`
	// Waiting is what the running step waits for the operator to do
	// ("start NEW", "stop OLD"); empty otherwise.
	Waiting string `json:"waiting,omitempty"`
	// StoppedAt and Reason: the step the last run stopped at, and why.
	StoppedAt string    `json:"stoppedAt,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Started   time.Time `json:"started"`
	Updated   time.Time `json:"updated"`

	path string
}

// IsDone says whether the step is journaled as done.
func (j *Journal) IsDone(step string) bool { return slices.Contains(j.Done, step) }

// Complete: every step is done.
func (j *Journal) Complete() bool { return j.IsDone(StepVerify) }

// Steps are this replacement's steps, in order.
func (j *Journal) Steps() []string {
	if j.OldDown {
		return StepsOldDown
	}
	return Steps
}

// Next is the first step not done ("" when complete).
func (j *Journal) Next() string {
	for _, s := range j.Steps() {
		if !j.IsDone(s) {
			return s
		}
	}
	return ""
}

// Path is where the journal is kept.
func (j *Journal) Path() string { return j.path }

// LoadJournal reads the state file; a missing one is a new journal.
func LoadJournal(path string) (*Journal, bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Journal{Done: []string{}, path: path}, false, nil
	}
	if err != nil {
		return nil, false, fault.Mark(fmt.Errorf("state file: %w", err), fault.Invalid)
	}
	var j Journal
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, false, fault.Mark(fmt.Errorf("state file %s is not a replacement journal: %w", path, err), fault.Invalid)
	}
	if j.Done == nil {
		j.Done = []string{}
	}
	j.path = path
	return &j, true, nil
}

// save writes the journal atomically: a crash leaves the old state or the
// new, never a torn file that would make the next run start over.
func (j *Journal) save() error {
	j.Updated = time.Now().UTC()
	data, err := output.MarshalIndent(j)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(j.path), 0o700); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := atomicfile.WriteFile(j.path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}

// waiting journals what the run waits for the operator to do.
func (j *Journal) waiting(what string) error {
	j.Waiting = what
	return j.save()
}

func (j *Journal) done(step string) error {
	if !j.IsDone(step) {
		j.Done = append(j.Done, step)
	}
	j.StoppedAt, j.Reason, j.Waiting = "", "", ""
	return j.save()
}

// stopped journals where and why the run stopped, and returns err.
func (j *Journal) stopped(step string, err error) error {
	j.StoppedAt, j.Reason, j.Waiting = step, err.Error(), ""
	if serr := j.save(); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}
