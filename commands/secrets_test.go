package commands_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// No secret in any output, log, advice, event, metrics file or metadata,
// whatever the combination of flags, environment and URLs: every command,
// verbose, against a real cluster with auth on, grepped for the passwords.
func TestPasswordsNeverAppearInAnyOutput(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3, QuotaBytes: 64 << 20})
	cli := playgroundtest.Client(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const flagPW, envPW = "Fl4gSecret", "En7Secret"
	if _, err := cli.UserAdd(ctx, "root", flagPW); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
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
