package playground

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// envMemberConfig tells a re-executed binary to run one etcd member from the
// given config file instead of its normal main. The CLI and every test binary
// that starts a playground call RunMemberIfRequested first thing.
const envMemberConfig = "ETCDMEDIC_PLAYGROUND_MEMBER_CONFIG"

// RunMemberIfRequested runs an etcd member and exits, if this process was
// started as a playground member; otherwise it returns at once.
func RunMemberIfRequested() {
	path := os.Getenv(envMemberConfig)
	if path == "" {
		return
	}
	os.Exit(runMember(path))
}

func runMember(configPath string) int {
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
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	parentGone := watchParent()
	select {
	case err := <-e.Err():
		fmt.Fprintf(os.Stderr, "playground member: %v\n", err)
		e.Close()
		return 1
	case <-e.Server.StopNotify():
		// As etcd's own main: a member removed from the cluster stops its
		// server, and the process ends (status 0).
	case <-sigs:
	case <-parentGone:
		// The playground (or test) that started us is gone: never leave an
		// orphaned member holding ports and disk.
	}
	e.Close()
	return 0
}

// watchParent fires when the parent process exits (we get re-parented).
func watchParent() <-chan struct{} {
	ch := make(chan struct{})
	ppid := os.Getppid()
	go func() {
		for range time.Tick(500 * time.Millisecond) {
			if os.Getppid() != ppid {
				close(ch)
				return
			}
		}
	}()
	return ch
}
