package playground

import "github.com/etcdmedic/etcdmedic/internal/etcdmember"

// This package's tests re-execute their binary as members too.
func init() { SetMemberRunner(etcdmember.Run) }
