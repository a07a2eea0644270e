//go:build !slim

package breakglass

import (
	"fmt"

	"go.etcd.io/etcd/etcdutl/v3/etcdutl"
)

// linkedDefrag: the full build defragments with etcdutl's library unless
// --etcdutl-binary is given. The release build (-tags slim) leaves it out:
// it links etcd's server packages, whose initialisation every command
// would pay for at start (issue 14).
const linkedDefrag = true

// defragLinked is etcdutl defrag --data-dir; its backend panics when it
// cannot take the lock in time, which must not take the journal down with it.
func defragLinked(dir string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	// The lock was free a moment ago; a member started since is not
	// waited on for long.
	etcdutl.FlockTimeout = defragLockTimeout
	return etcdutl.DefragData(dir)
}
