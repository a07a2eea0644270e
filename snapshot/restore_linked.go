//go:build !slim

package snapshot

import (
	etcdutl "go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
)

// linkedRestore: the full build restores with etcdutl's library unless
// --etcdutl-binary is given. The release build (-tags slim) leaves it out:
// it links etcd's server packages, whose initialisation every command
// would pay for at start (issue 14).
const linkedRestore = true

func restoreLinked(c restoreConfig) error {
	return etcdutl.NewV3(zap.NewNop()).Restore(etcdutl.RestoreConfig{
		SnapshotPath:        c.SnapshotPath,
		Name:                c.Name,
		OutputDataDir:       c.OutputDataDir,
		PeerURLs:            c.PeerURLs,
		InitialCluster:      c.InitialCluster,
		InitialClusterToken: c.InitialClusterToken,
		SkipHashCheck:       c.SkipHashCheck,
		RevisionBump:        c.RevisionBump,
		MarkCompacted:       c.MarkCompacted,
	})
}
