// Package exitcode holds the process exit codes every etcdmedic command shares.
// They are part of the CLI contract (docs/exit-codes.md): scripts and cron
// jobs branch on them. Only commands/cmdutil turns outcomes into them.
package exitcode

const (
	OK       = 0  // success, healthy, or nothing to do
	Warning  = 1  // a warning, or partial success
	Critical = 2  // critical finding, or the operation failed
	Unknown  = 3  // could not determine: nothing reachable, auth refused
	Refused  = 4  // a safety gate refused to act (quorum, lock held)
	Usage    = 64 // bad flags, arguments or input files (sysexits EX_USAGE)
)
