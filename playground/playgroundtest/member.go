package playgroundtest

import (
	"github.com/etcdmedic/etcdmedic/internal/etcdmember"
	"github.com/etcdmedic/etcdmedic/playground"
)

// Test binaries that start playgrounds re-execute themselves as members, so
// they link the etcd server (the CLI does only without -tags slim).
func init() { playground.SetMemberRunner(etcdmember.Run) }
