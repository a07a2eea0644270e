package breakglass

import "context"

// undoer reverts one journal entry of an action whose code lives in its own
// file (force-new-cluster, defrag-offline, probes): undo.go dispatches to it
// so each such action keeps its revert beside the change it reverts.
type undoer func(ctx context.Context, l *Layout, e Entry) (detail string, err error)

// undoers by journal action; registered from the files that journal them.
var undoers = map[string]undoer{}

// undoable says whether undo reverts e through a registered undoer: only
// entries whose change was done.
func undoable(e Entry) bool { return undoers[e.Action] != nil && e.Result == ResultOK }
