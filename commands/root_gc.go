package commands

import (
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// startupGCPercent is the collector's target while the process starts:
// package initialisation leaves about 2.5 MB of heap against the default
// 4 MB first goal, so a short command such as status collected once
// (measured on a 3-member playground: 4.4 ms less CPU, 3.5 ms less wall per
// status without that collection). Its peak heap is a few MB, so 400 means
// no collection, without switching the collector off. version never
// collects, yet measured 1.5 ms faster with it (12.8 vs 14.3 ms median, 80
// fewer page faults; the runtime's pacing of the default goal, not a
// collection).
const startupGCPercent = 400

// restoreGC puts the collector back to what the process was started with;
// nil when Main did not change it (GOGC set, or Execute called in-process).
var restoreGC func()

// shortLivedAnnotation marks a command whose heap stays a few MB and which
// ends in milliseconds: it keeps startupGCPercent. Every other command runs
// with the collector as configured (the readers and the snapshot hold RSS
// bounds that rely on it).
const shortLivedAnnotation = "etcdmedic/short-lived"

// raiseStartupGC is called first thing by Main; GOGC from the environment
// wins.
func raiseStartupGC() {
	if os.Getenv("GOGC") != "" {
		return
	}
	prev := debug.SetGCPercent(startupGCPercent)
	restoreGC = func() { debug.SetGCPercent(prev) }
}

// settleGC runs before any command's work: a command not marked short-lived
// gets the collector back before it allocates.
func settleGC(cmd *cobra.Command) {
	if restoreGC == nil || cmd.Annotations[shortLivedAnnotation] != "" {
		return
	}
	restoreGC()
	restoreGC = nil
}

// markShortLived marks the commands that keep startupGCPercent.
func markShortLived(cmds ...*cobra.Command) {
	for _, c := range cmds {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[shortLivedAnnotation] = "true"
	}
}
