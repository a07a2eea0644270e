// Package etcdmember runs one etcd member in this process, from an etcd
// config file. It is the only package that links the etcd server: importing
// it costs every command of a binary the server packages' initialisation,
// so only binaries that run playground members import it (cmd/etcdmedic
// without the slim build tag, and test binaries through playgroundtest).
package etcdmember

import (
	"fmt"
	"os"

	"go.etcd.io/etcd/server/v3/embed"
)

// Run starts the member configured in configPath and runs it until it fails
// or stop is closed; it returns the process exit status.
func Run(configPath string, stop <-chan struct{}) int {
	cfg, err := embed.ConfigFromFile(configPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "playground member: read config %s: %v\n", configPath, err)
		return 2
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "playground member: start: %v\n", err)
		return 2
	}
	select {
	case err := <-e.Err():
		fmt.Fprintf(os.Stderr, "playground member: %v\n", err)
		e.Close()
		return 1
	case <-e.Server.StopNotify():
		// As etcd's own main: a member removed from the cluster stops its
		// server, and the process ends (status 0).
	case <-stop:
	}
	e.Close()
	return 0
}
