//go:build slim

package snapshot

import "errors"

// linkedRestore: the release build (-tags slim) links no etcdutl: it runs
// etcd's own etcdutl binary (FindRestoreTool), which the release archive
// and image ship beside etcdmedic.
const linkedRestore = false

func restoreLinked(restoreConfig) error {
	return errors.New("this build links no etcdutl: FindRestoreTool gives the binary to run")
}
