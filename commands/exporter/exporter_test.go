package exporter_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/internal/promfile/promfiletest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestMain(m *testing.M) {
	playground.RunMemberIfRequested()
	os.Exit(m.Run())
}

// Usage errors, tested without a cluster.
func TestExporterUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--preset", "nope"}, "valid presets are openshift, upstream"},
		{[]string{"--set", "quota.warn=2"}, "override quota.warn"},
		{[]string{"--listen", "9979"}, "want host:port"},
		{[]string{"--min-interval", "-1s"}, "--min-interval"},
	} {
		res := clitest.Run(t, nil, append([]string{"exporter"}, tc.args...)...)
		if res.Code != 64 || !strings.Contains(res.Stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 64 naming %q", tc.args, res.Code, res.Stderr, tc.want)
		}
	}
}

// A taken port: one line, exit 2, before any connection to etcd.
func TestExporterListenOnTakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	res := clitest.Run(t, nil, "exporter", "--listen", ln.Addr().String(), "--endpoints", "127.0.0.1:1")
	lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
	if res.Code != 2 || len(lines) != 1 || !strings.Contains(res.Stderr, "address already in use") {
		t.Errorf("exit %d, stderr %q; want exit 2 and one line saying the address is in use", res.Code, res.Stderr)
	}
}

// The command end to end: it serves the series and stops on cancel with exit 0.
func TestExporterServesUntilStopped(t *testing.T) {
	pg := playgroundtest.Start(t, playground.Options{Members: 1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan clitest.Result, 1)
	go func() {
		done <- clitest.RunContext(ctx, t, nil, "exporter", "--listen", addr, "--endpoints", strings.Join(pg.Endpoints(), ","), "--min-interval", "0")
	}()
	var body []byte
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	res := <-done
	if res.Code != 0 {
		t.Errorf("exit %d after cancel", res.Code)
	}
	if up := promfiletest.Labels(t, body, "etcdmedic_member_up", "member"); up["m1"] != 1 {
		t.Errorf("member_up %v in\n%s", up, body)
	}
	promfiletest.Check(t, body)
}
