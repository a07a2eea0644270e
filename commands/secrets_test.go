package commands_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands"
	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/step/steptest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// authCluster starts a playground with auth on and a root user with the
// given password.
func authCluster(t *testing.T, o playground.Options, rootPassword string) *playground.Cluster {
	t.Helper()
	c := playgroundtest.Start(t, o)
	cli := playgroundtest.Client(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := cli.UserAdd(ctx, "root", rootPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// No secret in any output, log, advice, event, metrics file or metadata,
// whatever the combination of flags, environment and URLs: every command,
// verbose, against a real cluster with auth on, grepped for the passwords.
func TestPasswordsNeverAppearInAnyOutput(t *testing.T) {
	const flagPW, envPW = "Fl4gSecret", "En7Secret"
	c := authCluster(t, playground.Options{Members: 3, QuotaBytes: 64 << 20}, flagPW)
	eps := strings.Join(c.Endpoints(), ",")
	dir := t.TempDir()
	metrics := filepath.Join(dir, "m.prom")
	withEnvPassword := playgroundtest.Env("ETCDCTL_PASSWORD", envPW)
	withEnvUser := playgroundtest.Env("ETCDCTL_USER", "root:"+flagPW)
	// Both from the environment: ETCDCTL_PASSWORD wins (as --password would),
	// so the login fails here, and still nothing may show either password.
	withBothEnv := playgroundtest.Env("ETCDCTL_USER", "root:"+flagPW, "ETCDCTL_PASSWORD", envPW)

	runs := []struct {
		env      func(string) string
		args     []string
		loginBad bool
	}{
		{withBothEnv, []string{"status", "-v"}, true},
		{withBothEnv, []string{"doctor", "-v", "--window", "200ms"}, true},
		{withEnvPassword, []string{"status", "-v", "--user", "root:" + flagPW}, false},
		{withEnvPassword, []string{"status", "-v", "-o", "json", "--user", "root:" + flagPW}, false},
		{withEnvUser, []string{"status", "-v"}, false},
		{nil, []string{"status", "-v", "--user", "root", "--password", flagPW}, false},
		{withEnvPassword, []string{"doctor", "-v", "--all", "--window", "200ms", "--user", "root:" + flagPW}, false},
		{withEnvPassword, []string{"doctor", "-o", "json", "--window", "200ms", "--user", "root:" + flagPW}, false},
		{withEnvPassword, []string{"inventory", "-v", "--user", "root:" + flagPW}, false},
		{withEnvPassword, []string{"defrag", "-v", "--dry-run", "--user", "root:" + flagPW}, false},
		{withEnvPassword, []string{"defrag", "-v", "-o", "json", "--rule", "true", "--metrics-file", metrics, "--user", "root:" + flagPW}, false},
		{withEnvPassword, []string{"snapshot", "save", "-v", dir, "--user", "root:" + flagPW}, false},
		{withEnvPassword, []string{"snapshot", "save", "-o", "json", dir, "--user", "root:" + flagPW}, false},
		{nil, []string{"breakglass", "plan", "--root", t.TempDir(), "--user", "root:" + flagPW}, false},
	}
	for _, r := range runs {
		args := append(append([]string{}, r.args...), "--endpoints", eps)
		res := clitest.Run(t, r.env, args...)
		if !r.loginBad && strings.Contains(res.Stdout+res.Stderr, "authentication refused") {
			t.Errorf("etcdmedic %s: exit %d, the credentials did not work: a password in --user wins over ETCDCTL_PASSWORD", strings.Join(r.args, " "), res.Code)
		}
		for _, pw := range []string{flagPW, envPW} {
			if strings.Contains(res.Stdout+res.Stderr, pw) {
				t.Errorf("etcdmedic %s printed a password", strings.Join(r.args, " "))
			}
		}
	}
	// A URL that carries credentials is refused, and not echoed with them.
	res := clitest.Run(t, nil, "status", "--endpoints", "http://root:"+flagPW+"@"+strings.TrimPrefix(c.Member(0).ClientURL, "http://"))
	if res.Code != 64 || strings.Contains(res.Stdout+res.Stderr, flagPW) || !strings.Contains(res.Stderr, "credentials do not belong") {
		t.Errorf("endpoint with user:password@: exit %d, stderr %q; want 64, refused, password not shown", res.Code, res.Stderr)
	}
	// Files the runs wrote: metrics textfile, snapshot metadata.
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".db") || strings.HasSuffix(path, ".zst") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, pw := range []string{flagPW, envPW} {
			if strings.Contains(string(b), pw) {
				t.Errorf("%s holds a password", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(metrics); err != nil {
		t.Errorf("the defrag run wrote no metrics file to grep: %v", err)
	}
}

// A printed next step logs in as the run did, and still never carries the
// password: with ETCDCTL_USER=name:password the step leaves --user out (a
// --user NAME would override the variable with no password at all); with
// --user name:password on the command line it carries --user NAME, and the
// pasted step asks for the password on a terminal, as etcdctl does.
func TestPrintedNextStepLogsInAsTheRunDid(t *testing.T) {
	const pw = "Pr0mptSecret"
	c := authCluster(t, playground.Options{Members: 1, QuotaBytes: 16 << 20}, pw)
	eps := strings.Join(c.Endpoints(), ",")
	// A fresh member's few KiB are above 0.01% of 16 MiB: a warning, so
	// status prints the doctor command to run next.
	status := []string{"status", "--endpoints", eps, "--set", "quota.warn=0.01%"}
	nextStep := func(res clitest.Result) []string {
		t.Helper()
		if res.Code != 1 || strings.Contains(res.Stdout+res.Stderr, pw) {
			t.Fatalf("status: exit %d, want 1 (a quota warning), password never shown", res.Code)
		}
		_, after, ok := strings.Cut(res.Stdout, "→ every finding and the command that fixes it:\n")
		if !ok {
			t.Fatal("status printed no next step")
		}
		line := strings.TrimSpace(strings.SplitN(strings.ReplaceAll(after, " \\\n", " "), "\n", 2)[0])
		return clitest.ShellWords(t, line)
	}
	loggedIn := func(what string, res clitest.Result) {
		t.Helper()
		if res.Code != 1 || !strings.Contains(res.Stdout, "space.quota") || strings.Contains(res.Stdout+res.Stderr, "authentication") {
			t.Fatalf("%s: exit %d, want 1 with the quota finding, logged in", what, res.Code)
		}
		if strings.Contains(res.Stdout+res.Stderr, pw) {
			t.Fatalf("%s printed the password", what)
		}
	}

	withEnvUser := playgroundtest.Env("ETCDCTL_USER", "root:"+pw)
	words := nextStep(clitest.Run(t, withEnvUser, status...))
	if slices.Contains(words, "--user") {
		t.Fatalf("the next step repeats --user, which overrides ETCDCTL_USER's password: %q", words)
	}
	loggedIn("the next step in the same environment", clitest.Run(t, withEnvUser, words...))

	words = nextStep(clitest.Run(t, nil, append(status, "--user", "root:"+pw)...))
	if i := slices.Index(words, "--user"); i < 0 || i+1 >= len(words) || words[i+1] != "root" {
		t.Fatalf("the next step of a --user run should carry --user root: %q", words)
	}
	if res := clitest.Run(t, nil, words...); res.Code != 3 || !strings.Contains(res.Stdout+res.Stderr, "authentication refused: no password for etcd user root: set ETCDCTL_PASSWORD, or run on a terminal to be asked") {
		t.Fatalf("with no terminal and no password: exit %d, want 3 naming the missing password", res.Code)
	}
	tty, keyboard := steptest.Terminal(t)
	if _, err := keyboard.WriteString(pw + "\n"); err != nil {
		t.Fatal(err)
	}
	ios, out, errOut := iostreams.Test()
	ios.In = tty
	code := commands.Execute(context.Background(), words, ios, func(string) string { return "" })
	res := clitest.Result{Code: code, Stdout: out.String(), Stderr: errOut.String()}
	if !strings.HasPrefix(res.Stderr, "Password for etcd user root: ") {
		t.Fatalf("no password prompt on the terminal: stderr %q", res.Stderr)
	}
	loggedIn("the next step on a terminal, password typed", res)
}
