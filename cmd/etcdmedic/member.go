//go:build !slim

package main

import (
	"github.com/etcdmedic/etcdmedic/internal/etcdmember"
	"github.com/etcdmedic/etcdmedic/playground"
)

// The full build runs playground members in this binary. The slim build
// (-tags slim) leaves the etcd server out, and with it the initialisation of
// its packages that every command would otherwise pay for at start; its
// playground runs the etcd on PATH or --etcd-binary.
func init() { playground.SetMemberRunner(etcdmember.Run) }
