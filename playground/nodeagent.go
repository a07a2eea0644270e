package playground

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"sigs.k8s.io/yaml"
)

// NodeAgent plays the kubelet's static-pod part for tests of commands that
// edit manifests: it watches a directory, and for every file there whose name
// does not start with a dot (the kubelet's rule; no recursion) runs the first
// container's command line as a local process. A changed file restarts it, a
// removed file stops it, a process that exits is started again (restartPolicy
// Always). It looks every 200 ms where the kubelet looks every 20 s.
type NodeAgent struct {
	dir  string
	bins map[string]string
	logs string

	mu   sync.Mutex
	pods map[string]*agentPod
	stop chan struct{}
	done chan struct{}
}

// NodeAgentOptions configure a node agent.
type NodeAgentOptions struct {
	// ManifestDir is the static-pod directory watched.
	ManifestDir string
	// Binaries maps a command name in a manifest ("etcd") to the program
	// run for it; other commands are run as found on the PATH.
	Binaries map[string]string
	// LogDir gets <file>.log with each pod's output; default ManifestDir/../agent-logs.
	LogDir string
}

type agentPod struct {
	file   string
	sha    string
	argv   []string
	cmd    *exec.Cmd
	exited chan struct{}
	starts int
	err    string
}

// StartNodeAgent starts watching; Stop ends every pod it runs.
func StartNodeAgent(o NodeAgentOptions) (*NodeAgent, error) {
	if st, err := os.Stat(o.ManifestDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("node agent: %s is not a directory", o.ManifestDir)
	}
	if o.LogDir == "" {
		o.LogDir = filepath.Join(filepath.Dir(o.ManifestDir), "agent-logs")
	}
	if err := os.MkdirAll(o.LogDir, 0o700); err != nil {
		return nil, err
	}
	a := &NodeAgent{dir: o.ManifestDir, bins: o.Binaries, logs: o.LogDir, pods: map[string]*agentPod{},
		stop: make(chan struct{}), done: make(chan struct{})}
	a.sync()
	go a.loop()
	return a, nil
}

func (a *NodeAgent) loop() {
	defer close(a.done)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.sync()
		}
	}
}

// sync makes the running processes match the directory.
func (a *NodeAgent) sync() {
	want := map[string][]byte{}
	names, _ := filepath.Glob(filepath.Join(a.dir, "[^.]*"))
	sort.Strings(names)
	for _, p := range names {
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if data, err := os.ReadFile(p); err == nil {
			want[filepath.Base(p)] = data
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for name, p := range a.pods {
		data, ok := want[name]
		if !ok || digestOf(data) != p.sha {
			a.kill(p)
			delete(a.pods, name)
		}
	}
	for name, data := range want {
		p := a.pods[name]
		if p == nil {
			argv, err := podCommand(data)
			p = &agentPod{file: name, sha: digestOf(data), argv: argv}
			a.pods[name] = p
			if err != nil {
				p.err = err.Error()
				continue
			}
		}
		if p.argv == nil {
			continue
		}
		if p.cmd == nil || exitedNow(p.exited) {
			a.start(p)
		}
	}
}

func exitedNow(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func digestOf(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// podCommand is the first container's command followed by its args.
func podCommand(data []byte) ([]string, error) {
	var pod struct {
		Kind string `json:"kind"`
		Spec struct {
			Containers []struct {
				Command []string `json:"command"`
				Args    []string `json:"args"`
			} `json:"containers"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &pod); err != nil {
		return nil, err
	}
	if pod.Kind != "Pod" || len(pod.Spec.Containers) == 0 {
		return nil, errors.New("not a pod with containers")
	}
	c := pod.Spec.Containers[0]
	argv := append(append([]string{}, c.Command...), c.Args...)
	if len(argv) == 0 {
		return nil, errors.New("no command")
	}
	return argv, nil
}

func (a *NodeAgent) start(p *agentPod) {
	prog := p.argv[0]
	if b, ok := a.bins[prog]; ok {
		prog = b
	}
	out, err := os.OpenFile(filepath.Join(a.logs, p.file+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.err = err.Error()
		return
	}
	fmt.Fprintf(out, "--- %s start %d: %s\n", time.Now().UTC().Format(time.RFC3339Nano), p.starts+1, strings.Join(p.argv, " "))
	cmd := exec.Command(prog, p.argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		out.Close()
		p.err = err.Error()
		return
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(exited)
	}()
	p.cmd, p.exited, p.err = cmd, exited, ""
	p.starts++
}

// kill stops a pod's process as the kubelet does: SIGTERM, SIGKILL after 10 s.
func (a *NodeAgent) kill(p *agentPod) {
	if p.cmd == nil || exitedNow(p.exited) {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// Starts is how many times the pod of a manifest file was started.
func (a *NodeAgent) Starts(file string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p := a.pods[file]; p != nil {
		return p.starts
	}
	return 0
}

// Command is the command line the pod of a manifest file runs now (nil when
// none runs).
func (a *NodeAgent) Command(file string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p := a.pods[file]; p != nil && p.cmd != nil && !exitedNow(p.exited) {
		return append([]string{}, p.argv...)
	}
	return nil
}

// KillPod SIGKILLs a pod's process, as a crash would; the agent starts it
// again from the manifest as it is then.
func (a *NodeAgent) KillPod(file string) error {
	a.mu.Lock()
	p := a.pods[file]
	a.mu.Unlock()
	if p == nil || p.cmd == nil || exitedNow(p.exited) {
		return fmt.Errorf("node agent: no running pod for %s", file)
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	return nil
}

// Stop ends the watch and every process it started.
func (a *NodeAgent) Stop() {
	close(a.stop)
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range a.pods {
		a.kill(p)
	}
}
