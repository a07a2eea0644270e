package playgroundtest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// KubeAPIServerVersion is what scripts/build-kube-apiserver.sh builds by
// default; the break-glass and chart end-to-end tests run the same binary.
const KubeAPIServerVersion = "v1.34.4"

// CacheDir is where the project's scripts cache what they build
// (ETCDMEDIC_CACHE, else ~/.cache/etcdmedic).
func CacheDir() string {
	if c := os.Getenv("ETCDMEDIC_CACHE"); c != "" {
		return c
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "etcdmedic")
}

// KubeAPIServer returns the kube-apiserver that scripts/build-kube-apiserver.sh
// caches (or ETCDMEDIC_KUBE_APISERVER), building it when it is missing: about
// 10 minutes on 2 cores once; scripts/test.sh builds it before the suite.
func KubeAPIServer(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("ETCDMEDIC_KUBE_APISERVER"); p != "" {
		return p
	}
	bin := filepath.Join(CacheDir(), "kube-apiserver", KubeAPIServerVersion, "kube-apiserver")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	out, err := exec.Command(filepath.Join(repoRoot(), "scripts", "build-kube-apiserver.sh"), KubeAPIServerVersion).CombinedOutput()
	if err != nil {
		t.Fatalf("build kube-apiserver: %v\n%s", err, out)
	}
	return bin
}

// repoRoot is the module's root, two folders above this file.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Process is a server a test runs in a process of its own, its output in a
// log file that is shown (its tail) when the test fails.
type Process struct {
	Cmd *exec.Cmd
	// Exited receives the process's end once; a test polling for readiness
	// selects on it to fail at once when the server dies.
	Exited <-chan error
	Log    string
}

// StartProcess starts bin with args and stops it (SIGTERM, then SIGKILL after
// 20 s) when the test ends.
func StartProcess(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(bin)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	p := &Process{Cmd: cmd, Exited: exited, Log: logf.Name()}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.Log)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("%s log tail:\n%s", filepath.Base(bin), b)
		}
	})
	return p
}

// PollUntil calls cond until it succeeds, failing the test when the process
// exits or limit passes.
func (p *Process) PollUntil(t testing.TB, limit time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := cond()
		if err == nil {
			return
		}
		select {
		case e := <-p.Exited:
			t.Fatalf("%s exited: %v", filepath.Base(p.Cmd.Path), e)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", filepath.Base(p.Cmd.Path), err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// FreePort is a loopback TCP port nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// HostIP is an address of this machine that is not loopback (the apiserver
// refuses to advertise 127.0.0.1; tests prove nothing listens there); 10.0.0.11
// (not local) when there is none.
func HostIP() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return "10.0.0.11"
}
