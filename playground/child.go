package playground

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// envMemberConfig tells a re-executed binary to run one etcd member from the
// given config file instead of its normal main. The CLI and every test binary
// that starts a playground call RunMemberIfRequested first thing.
const envMemberConfig = "ETCDMEDIC_PLAYGROUND_MEMBER_CONFIG"

// MemberRunner runs one etcd member in this process from an etcd config
// file until stop is closed, and returns the exit status (etcdmember.Run).
type MemberRunner func(configPath string, stop <-chan struct{}) int

// memberRunner is set by binaries that link the etcd server; without it,
// members run an etcd binary (Options.EtcdBinary, or etcd on PATH).
var memberRunner MemberRunner

// SetMemberRunner makes members this binary re-executed, running etcd with
// run. Binaries that do not call it never link (nor initialise) the etcd
// server packages, which is what every other command of the CLI starts up
// faster for.
func SetMemberRunner(run MemberRunner) { memberRunner = run }

// RunMemberIfRequested runs an etcd member and exits, if this process was
// started as a playground member; otherwise it returns at once.
func RunMemberIfRequested() {
	path := os.Getenv(envMemberConfig)
	if path == "" {
		return
	}
	if memberRunner == nil {
		fmt.Fprintln(os.Stderr, "playground member: this binary has no etcd built in")
		os.Exit(2)
	}
	os.Exit(runMember(path))
}

func runMember(configPath string) int {
	stop := make(chan struct{})
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	parentGone := watchParent()
	go func() {
		select {
		case <-sigs:
		case <-parentGone:
			// The playground (or test) that started us is gone: never leave an
			// orphaned member holding ports and disk.
		}
		close(stop)
	}()
	return memberRunner(configPath, stop)
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
