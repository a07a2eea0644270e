// Command etcdmedic is an etcd health and maintenance toolkit.
package main

import (
	"os"

	"github.com/etcdmedic/etcdmedic/commands"
	"github.com/etcdmedic/etcdmedic/playground"
)

func main() {
	// A playground member is this binary re-executed; it runs etcd and exits.
	playground.RunMemberIfRequested()
	os.Exit(commands.Main())
}
