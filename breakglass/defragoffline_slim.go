//go:build slim

package breakglass

import "errors"

// linkedDefrag: the release build (-tags slim) links no etcdutl: it runs
// etcd's own etcdutl binary (FindDefragTool), which the release archive and
// image ship beside etcdmedic.
const linkedDefrag = false

func defragLinked(string) error {
	return errors.New("this build links no etcdutl: FindDefragTool gives the binary to run")
}
