package member_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
)

// runEtcdmedic runs `etcdmedic args...`: the binary ETCDMEDIC_BIN names
// when set (scripts/bench-member.sh sets the release build: what users run,
// a process of its own beside the members), else in-process.
func runEtcdmedic(t testing.TB, args ...string) clitest.Result {
	t.Helper()
	bin := os.Getenv("ETCDMEDIC_BIN")
	if bin == "" {
		return clitest.Run(t, nil, args...)
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	r := clitest.Result{Stdout: out.String(), Stderr: errOut.String(), Took: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	case err != nil:
		// Not t.Fatal: driveReplace runs this off the test's goroutine.
		r.Code, r.Stderr = -1, r.Stderr+err.Error()
	}
	t.Logf("%s %s -> exit %d in %s\nstdout:\n%s\nstderr:\n%s", bin, strings.Join(args, " "), r.Code, r.Took.Round(time.Millisecond), r.Stdout, r.Stderr)
	return r
}
