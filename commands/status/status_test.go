package status_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/health"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

func TestMain(m *testing.M) {
	playground.RunMemberIfRequested()
	os.Exit(m.Run())
}

func endpoints(c *playground.Cluster) string { return strings.Join(c.Endpoints(), ",") }

func decode(t *testing.T, s string) health.StatusReport {
	t.Helper()
	var r health.StatusReport
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("status -o json is not JSON: %v\n%s", err, s)
	}
	return r
}

func TestStatusJSONOnSeededCluster(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 300, ConfigMaps: 50, Events: 100, PodPadding: 500})

	playgroundtest.WaitQuiet(t, c)

	res := clitest.Run(t, nil, "status", "-o", "json", "--endpoints", endpoints(c))
	if res.Code != 0 {
		t.Fatalf("exit %d, want 0", res.Code)
	}
	r := decode(t, res.Stdout)
	if len(r.Members) != 3 {
		t.Fatalf("%d members, want exactly 3", len(r.Members))
	}
	leaders := 0
	cli := playgroundtest.Client(t, c)
	for _, m := range r.Members {
		if m.IsLeader {
			leaders++
		}
		if m.Error != "" || m.Verdict != health.VerdictHealthy {
			t.Fatalf("member %s: verdict %s, error %q", m.Name, m.Verdict, m.Error)
		}
		// Sizes are what the member itself reports.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := cli.Status(ctx, m.Endpoint)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if st.DbSize != m.DBSize || st.DbSizeInUse != m.DBSizeInUse {
			t.Fatalf("member %s: dbSize %d/%d in use, member reports %d/%d", m.Name, m.DBSize, m.DBSizeInUse, st.DbSize, st.DbSizeInUse)
		}
		if want := cluster.FormatID(st.Header.MemberId); m.ID != want {
			t.Fatalf("member %s: id %s, member says %s", m.Name, m.ID, want)
		}
		if m.Quota != cluster.DefaultQuotaBytes || m.QuotaSource != cluster.QuotaFromStatus {
			t.Fatalf("member %s: quota %d from %s", m.Name, m.Quota, m.QuotaSource)
		}
		if m.WALFsyncP99Seconds == nil || *m.WALFsyncP99Seconds <= 0 {
			t.Fatalf("member %s: walFsyncP99Seconds = %v, want a number", m.Name, m.WALFsyncP99Seconds)
		}
		if m.BackendCommitP99Seconds == nil {
			t.Fatalf("member %s: backendCommitP99Seconds is null", m.Name)
		}
		if m.Fragmentation < 0 || m.Fragmentation >= 1 {
			t.Fatalf("member %s: fragmentation %f", m.Name, m.Fragmentation)
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders, want 1", leaders)
	}
	if r.Quorum.Voters != 3 || r.Quorum.Reachable != 3 || r.Quorum.Needed != 2 || r.Verdict != health.VerdictHealthy {
		t.Fatalf("cluster summary = %+v verdict %s", r.Quorum, r.Verdict)
	}

	// The same data as YAML, with the same field names.
	res = clitest.Run(t, nil, "status", "-o", "yaml", "--endpoints", endpoints(c))
	if res.Code != 0 || !strings.Contains(res.Stdout, "dbSizeInUse:") || !strings.Contains(res.Stdout, "walFsyncP99Seconds:") {
		t.Fatalf("yaml output: exit %d\n%s", res.Code, res.Stdout)
	}

	// A table for people: on a pipe no colour and no box drawing.
	res = clitest.Run(t, nil, "status", "--endpoints", endpoints(c))
	if res.Code != 0 || strings.Contains(res.Stdout, "\x1b[") || strings.Contains(res.Stdout, "│") {
		t.Fatalf("pipe table: exit %d\n%q", res.Code, res.Stdout)
	}
	for _, want := range []string{"NAME", "FRAG", "FSYNC P99", "leader", "healthy", "3 of 3 voters answer"} {
		if !strings.Contains(res.Stdout, want) {
			t.Fatalf("table lacks %q:\n%s", want, res.Stdout)
		}
	}
}

func TestStatusWithHungMembers(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	const timeout = 2 * time.Second
	args := []string{"status", "-o", "json", "--endpoints", endpoints(c), "--command-timeout", timeout.String()}

	hung := playgroundtest.PauseFollower(t, c)
	res := clitest.Run(t, nil, args...)
	if res.Took > timeout+time.Second {
		t.Fatalf("status took %s with one member hung, want at most %s", res.Took, timeout+time.Second)
	}
	if res.Code != 1 {
		t.Fatalf("exit %d with one of three members hung, want 1", res.Code)
	}
	r := decode(t, res.Stdout)
	if len(r.Members) != 3 {
		t.Fatalf("%d rows, want 3: a hung member is a row, never a missing row", len(r.Members))
	}
	for _, m := range r.Members {
		hungRow := m.Name == hung.Name
		if hungRow != (m.Error != "") {
			t.Fatalf("member %s: error %q (hung: %v)", m.Name, m.Error, hungRow)
		}
		if hungRow && (m.Verdict != health.VerdictUnreachable || m.WALFsyncP99Seconds != nil) {
			t.Fatalf("hung member row: verdict %s, fsync %v; want unreachable and null", m.Verdict, m.WALFsyncP99Seconds)
		}
	}

	// Any member but the hung one: with two of three hung, quorum is lost
	// whichever led.
	second := c.Member(0)
	if second == hung {
		second = c.Member(1)
	}
	if err := second.Pause(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Resume() })
	res = clitest.Run(t, nil, args...)
	if res.Code != 2 {
		t.Fatalf("exit %d with two of three members hung, want 2", res.Code)
	}
	if res.Took > timeout+time.Second {
		t.Fatalf("status took %s with two members hung", res.Took)
	}
	if r := decode(t, res.Stdout); !r.Quorum.Lost || r.Verdict != health.VerdictCritical {
		t.Fatalf("quorum %+v verdict %s, want lost and critical", r.Quorum, r.Verdict)
	}
}

// With quorum lost (two of three SIGKILLed), the survivor answers, leads
// alone (or follows the killed leader) for up to an election timeout, then
// follows no leader: its own row is critical all along ("leads without
// quorum" or "quorum lost", then "no leader"), never healthy beside the
// cluster's critical verdict.
func TestStatusSurvivorWithoutALeaderIsCritical(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	survivor := c.Member(0)
	for _, m := range []*playground.Member{c.Member(1), c.Member(2)} {
		if err := m.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"status", "-o", "json", "--endpoints", endpoints(c), "--command-timeout", "2s"}
	// The survivor keeps its leadership until its election timeout finds
	// the quorum gone (etcd's check-quorum), then has none.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		res := clitest.Run(t, nil, args...)
		r := decode(t, res.Stdout)
		if r.Leader != "" {
			// It leads alone, or still follows a killed leader.
			for _, m := range r.Members {
				want := "quorum lost"
				if m.ID == r.Leader {
					want = "leads without quorum"
				}
				if m.Name == survivor.Name && (m.Verdict != health.VerdictCritical || len(m.Reasons) == 0 || !strings.HasPrefix(m.Reasons[0], want)) {
					t.Fatalf("the survivor before its election timeout: verdict %s, reasons %v; want critical, %s", m.Verdict, m.Reasons, want)
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still leads alone after 30s", survivor.Name)
			}
			continue
		}
		for _, m := range r.Members {
			if m.Name == survivor.Name && (m.Verdict != health.VerdictCritical || !slices.Contains(m.Reasons, "no leader")) {
				t.Fatalf("the leaderless survivor's row: verdict %s, reasons %v; want critical, no leader", m.Verdict, m.Reasons)
			}
		}
		if res.Code != 2 || r.Verdict != health.VerdictCritical {
			t.Fatalf("exit %d, verdict %s; want 2, critical", res.Code, r.Verdict)
		}
		return
	}
}

// A member hung on the listener that also serves its /metrics costs the
// dial timeout, not the command timeout: the scrape of an address that did
// not answer Status is not waited for, and the row says so.
func TestStatusHungMemberCostsTheDialTimeout(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 3})
	const dial, command = time.Second, 10 * time.Second
	hung := playgroundtest.PauseFollower(t, c)
	res := clitest.Run(t, nil, "status", "-o", "json", "--endpoints", endpoints(c), "--dial-timeout", dial.String(), "--command-timeout", command.String())
	if res.Code != 1 {
		t.Fatalf("exit %d with one of three members hung, want 1", res.Code)
	}
	// Half the command timeout: the other members answer in milliseconds.
	if res.Took >= command/2 {
		t.Fatalf("status took %s with one member hung (--dial-timeout %s, --command-timeout %s): it waited for the scrape", res.Took, dial, command)
	}
	var raw struct {
		Members []struct {
			Name, MetricsError string
		}
	}
	if err := json.Unmarshal([]byte(res.Stdout), &raw); err != nil {
		t.Fatal(err)
	}
	for _, m := range raw.Members {
		if (m.Name == hung.Name) != strings.Contains(m.MetricsError, "not scraped") {
			t.Errorf("member %s: metrics error %q", m.Name, m.MetricsError)
		}
	}
}

func TestStatusTLS(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1, TLS: true})
	tls := c.TLS()
	base := []string{"status", "-o", "json", "--endpoints", endpoints(c)}

	res := clitest.Run(t, nil, append(base, "--cacert", tls.CA, "--cert", tls.ClientCert, "--key", tls.ClientKey)...)
	if res.Code != 0 {
		t.Fatalf("mutual TLS: exit %d", res.Code)
	}
	// The same through the etcdctl environment variables.
	res = clitest.Run(t, playgroundtest.Env("ETCDCTL_ENDPOINTS", endpoints(c), "ETCDCTL_CACERT", tls.CA, "ETCDCTL_CERT", tls.ClientCert, "ETCDCTL_KEY", tls.ClientKey), "status")
	if res.Code != 0 {
		t.Fatalf("TLS from ETCDCTL_* env: exit %d", res.Code)
	}

	// A CA that did not sign the server: the error says TLS verification and names the file.
	other := playgroundtest.Start(t, playground.Options{Members: 1, TLS: true})
	wrongCA := other.TLS().CA
	res = clitest.Run(t, nil, append(base, "--cacert", wrongCA, "--cert", tls.ClientCert, "--key", tls.ClientKey)...)
	if res.Code != 3 {
		t.Fatalf("wrong CA: exit %d, want 3", res.Code)
	}
	if !strings.Contains(res.Stderr, "TLS verification failed") || !strings.Contains(res.Stderr, wrongCA) {
		t.Fatalf("wrong CA: stderr does not name the TLS failure and the CA file:\n%s", res.Stderr)
	}
	if n := strings.Count(strings.TrimSpace(res.Stderr), "\n"); n > 0 {
		t.Fatalf("wrong CA: want a one-line error, got %d lines", n+1)
	}
}

func TestStatusBadInput(t *testing.T) {
	dir := t.TempDir()
	pg := playgroundtest.Start(t, playground.Options{Members: 1, TLS: true})
	other := playgroundtest.Start(t, playground.Options{Members: 1, TLS: true})
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not a certificate"), 0o600)

	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown output format", []string{"status", "-o", "xml"}, 64, "must be one of: table, wide, json, yaml"},
		{"malformed endpoint", []string{"status", "--endpoints", "http://127.0.0.1:notaport"}, 64, "invalid endpoint"},
		{"unreadable CA", []string{"status", "--endpoints", "https://127.0.0.1:1", "--cacert", filepath.Join(dir, "missing.crt")}, 64, "read CA file"},
		{"CA without certificates", []string{"status", "--endpoints", "https://127.0.0.1:1", "--cacert", garbage}, 64, "holds no PEM certificate"},
		{"mismatched cert and key", []string{"status", "--endpoints", endpoints(pg), "--cert", pg.TLS().ClientCert, "--key", other.TLS().ClientKey}, 64, "does not match"},
		{"missing manifest asked for", []string{"status", "--manifest", filepath.Join(dir, "etcd.yaml")}, 64, "kubeadm discovery"},
		{"stray argument", []string{"status", "extra"}, 64, "unknown command"},
		{"nothing reachable", []string{"status", "--endpoints", "127.0.0.1:1", "--command-timeout", "1s"}, 3, "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := clitest.Run(t, nil, tc.args...)
			if res.Code != tc.code {
				t.Fatalf("exit %d, want %d", res.Code, tc.code)
			}
			first := strings.SplitN(res.Stderr, "\n", 2)[0]
			if !strings.HasPrefix(first, "Error: ") || !strings.Contains(first, tc.want) {
				t.Fatalf("first stderr line %q: want a one-line error containing %q", first, tc.want)
			}
			if strings.Contains(res.Stderr, "goroutine ") || strings.Contains(res.Stderr, "panic") {
				t.Fatalf("stack trace on stderr:\n%s", res.Stderr)
			}
		})
	}
}

func TestStatusAuthRefused(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	cli := playgroundtest.Client(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.UserAdd(ctx, "root", "right-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}

	res := clitest.Run(t, playgroundtest.Env("ETCDCTL_PASSWORD", "wrong-password"), "status", "--endpoints", endpoints(c), "--user", "root")
	if res.Code != 3 {
		t.Fatalf("wrong password: exit %d, want 3 (cannot tell, not unhealthy)", res.Code)
	}
	if !strings.Contains(res.Stderr, "authentication refused") || strings.Contains(res.Stderr, "wrong-password") {
		t.Fatalf("stderr should say authentication was refused and never show the password:\n%s", res.Stderr)
	}

	res = clitest.Run(t, playgroundtest.Env("ETCDCTL_USER", "root:right-password"), "status", "-o", "json", "--endpoints", endpoints(c))
	if res.Code != 0 {
		t.Fatalf("right password: exit %d", res.Code)
	}
}

func TestVerboseSaysWhereSettingsCameFrom(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	res := clitest.Run(t, playgroundtest.Env("ETCDCTL_ENDPOINTS", endpoints(c), "ETCDCTL_PASSWORD", "hunter2"), "status", "-v", "--command-timeout", "3s", "--user", "u")
	for _, want := range []string{"endpoints=" + endpoints(c) + " (env ETCDCTL_ENDPOINTS)", "command-timeout=3s (flag --command-timeout)", "user=u (flag --user)", "password=<redacted>"} {
		if !strings.Contains(res.Stderr, want) {
			t.Fatalf("-v output lacks %q:\n%s", want, res.Stderr)
		}
	}
	if strings.Contains(res.Stderr+res.Stdout, "hunter2") {
		t.Fatal("password printed")
	}
}
