package playground

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Member is one member process of a playground.
type Member struct {
	Name      string
	ClientURL string
	PeerURL   string
	Dir       string

	cluster    *Cluster
	configPath string
	config     map[string]any

	mu   sync.Mutex
	id   uint64
	cmd  *exec.Cmd
	done chan struct{}
	// reaped closes when the process has been waited for, before its exit
	// is reported (done closes after): a test that restarts the member as
	// soon as it hears of the exit finds it not running.
	reaped  chan struct{}
	waitErr error
	paused  bool
	// stopping: the exit was asked for (Stop, Kill), so it is not reported.
	stopping bool
}

// MemberExit describes a member process that ended without being asked to.
type MemberExit struct {
	Name string
	PID  int
	// Status is how it ended: "exit status 1", "signal: killed".
	Status string
	// Log is the member's etcd log; its stdout and stderr are in ProcessLog.
	Log, ProcessLog string
}

// ID is the member ID, known once the member has answered.
func (m *Member) ID() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.id
}

func (m *Member) setID(id uint64) {
	m.mu.Lock()
	m.id = id
	m.mu.Unlock()
}

// PID of the running member process (0 if not running).
func (m *Member) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil || m.cmd.Process == nil {
		return 0
	}
	return m.cmd.Process.Pid
}

// DataDir is the member's etcd data directory.
func (m *Member) DataDir() string { return filepath.Join(m.Dir, "data") }

// LogPath is the member's etcd log file.
func (m *Member) LogPath() string { return filepath.Join(m.Dir, "etcd.log") }

func (m *Member) processLogPath() string { return filepath.Join(m.Dir, "process.log") }

func (m *Member) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var cmd *exec.Cmd
	if bin := m.cluster.opts.EtcdBinary; bin != "" {
		cmd = exec.Command(bin, "--config-file", m.configPath)
	} else {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("playground: find own binary: %w", err)
		}
		// The arguments are for people reading ps; the member goes by the
		// environment (see RunMemberIfRequested), which a test binary keeps.
		cmd = exec.Command(self, "playground-member", m.Name, "--client-url", m.ClientURL, "--dir", m.Dir)
		cmd.Env = append(os.Environ(), envMemberConfig+"="+m.configPath)
	}
	out, err := os.OpenFile(m.processLogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("playground: start member %s: %w", m.Name, err)
	}
	done, reaped := make(chan struct{}), make(chan struct{})
	m.cmd, m.done, m.reaped, m.waitErr, m.paused, m.stopping = cmd, done, reaped, nil, false, false
	go func() {
		err := cmd.Wait()
		out.Close()
		m.mu.Lock()
		m.waitErr = err
		asked := m.stopping
		close(reaped)
		m.mu.Unlock()
		// Reported before the member counts as exited, so that once Stop or
		// Kill returns no report of that exit is still to come.
		if onExit := m.cluster.opts.OnExit; onExit != nil && !asked {
			onExit(MemberExit{Name: m.Name, PID: cmd.Process.Pid, Status: exitStatus(err), Log: m.LogPath(), ProcessLog: m.processLogPath()})
		}
		close(done)
	}()
	return nil
}

// Running reports whether the member process is alive (it may be paused).
func (m *Member) Running() bool {
	m.mu.Lock()
	reaped := m.reaped
	m.mu.Unlock()
	if reaped == nil {
		return false
	}
	select {
	case <-reaped:
		return false
	default:
		return true
	}
}

// Paused reports whether the member was stopped with SIGSTOP.
func (m *Member) Paused() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.paused
}

func (m *Member) exited() (bool, string) {
	m.mu.Lock()
	done, err := m.done, m.waitErr
	m.mu.Unlock()
	if done == nil {
		return false, ""
	}
	select {
	case <-done:
		return true, exitStatus(err)
	default:
		return false, ""
	}
}

func exitStatus(waitErr error) string {
	if waitErr == nil {
		return "exit status 0"
	}
	return waitErr.Error()
}

// expectExit marks the coming exit as asked for.
func (m *Member) expectExit() {
	m.mu.Lock()
	m.stopping = true
	m.mu.Unlock()
}

func (m *Member) signal(sig syscall.Signal) error {
	pid := m.PID()
	if pid == 0 || !m.Running() {
		return fmt.Errorf("playground: member %s is not running", m.Name)
	}
	return syscall.Kill(pid, sig)
}

// Pause freezes the member with SIGSTOP: it keeps its sockets open and
// answers nothing, like a member stuck on a dead disk.
func (m *Member) Pause() error {
	if err := m.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	if err := waitStopped(m.PID(), 5*time.Second); err != nil {
		return fmt.Errorf("playground: pause %s: %w", m.Name, err)
	}
	m.mu.Lock()
	m.paused = true
	m.mu.Unlock()
	return nil
}

// Resume continues a paused member.
func (m *Member) Resume() error {
	if err := m.signal(syscall.SIGCONT); err != nil {
		return err
	}
	m.mu.Lock()
	m.paused = false
	m.mu.Unlock()
	return nil
}

// Kill SIGKILLs the member and waits for the process to be gone.
func (m *Member) Kill() error {
	m.expectExit()
	if err := m.signal(syscall.SIGKILL); err != nil {
		return err
	}
	m.wait(10 * time.Second)
	return nil
}

// Stop ends the member gracefully (SIGTERM, then SIGKILL after 10 s).
func (m *Member) Stop() error {
	if !m.Running() {
		return nil
	}
	m.expectExit()
	// A stopped process handles no SIGTERM until continued: resume it
	// whoever stopped it (Pause, or a user's kill -STOP while trying the
	// tool), or Ctrl-C would wait 10 s for the SIGKILL.
	_ = m.Resume()
	_ = m.signal(syscall.SIGTERM)
	if !m.wait(10 * time.Second) {
		_ = m.signal(syscall.SIGKILL)
		if !m.wait(5 * time.Second) {
			return fmt.Errorf("playground: member %s did not exit", m.Name)
		}
	}
	return nil
}

func (m *Member) wait(d time.Duration) bool {
	m.mu.Lock()
	done := m.done
	m.mu.Unlock()
	if done == nil {
		return true
	}
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// Restart starts a stopped or killed member again on its existing data.
func (m *Member) Restart() error {
	if m.Running() {
		return errors.New("playground: member " + m.Name + " is still running")
	}
	return m.start()
}

// RestartWith restarts a stopped member with some etcd settings changed
// (advertised URLs, flags under test); the change stays for later restarts.
func (m *Member) RestartWith(overrides map[string]any) error {
	if m.Running() {
		return errors.New("playground: member " + m.Name + " is still running")
	}
	for k, v := range overrides {
		m.config[k] = v
	}
	if err := m.saveConfig(); err != nil {
		return err
	}
	return m.start()
}

// exitCause is why a member that exited did, in one line for an error:
// the last line its process wrote (the start error), else the last line of
// etcd's own log; "" when neither says anything.
func (m *Member) exitCause() string {
	for _, p := range []string{m.processLogPath(), m.LogPath()} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if last := strings.TrimSpace(lines[len(lines)-1]); last != "" {
			last = strings.TrimPrefix(last, "playground member: ")
			if len(last) > 400 {
				last = last[:400] + "…"
			}
			return ": " + last
		}
	}
	return ""
}

// LogTail returns the last n lines of the member's logs, for error messages.
func (m *Member) LogTail(n int) string {
	var buf bytes.Buffer
	for _, p := range []string{m.processLogPath(), m.LogPath()} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		fmt.Fprintf(&buf, "--- %s\n%s\n", p, strings.Join(lines, "\n"))
	}
	return buf.String()
}
