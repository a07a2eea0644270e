package snapshot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
	snap "github.com/etcdmedic/etcdmedic/snapshot"
)

// bigCluster is a one-member playground holding ~80 MiB, so an upload is
// multipart (≥ 16 MiB) and takes long enough to be interrupted.
func bigCluster(t *testing.T) *playground.Cluster {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	cli := playgroundtest.Client(t, c)
	value := strings.Repeat("z", 512<<10)
	for i := 0; i < 160; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("/big/%d", i), value)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func buildEtcdmedic(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "etcdmedic")
	build := exec.Command("go", "build", "-o", bin, "github.com/etcdmedic/etcdmedic/cmd/etcdmedic")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func finalObjects(keys []string) []string {
	var out []string
	for _, k := range keys {
		if strings.HasPrefix(path.Base(k), "etcd-") {
			out = append(out, k)
		}
	}
	return out
}

// TestRemoteSaveKilledMidUpload: a real etcdmedic process SIGKILLed while
// its multipart upload to MinIO runs leaves no object under a final name
// and an incomplete multipart upload; the next save aborts that upload
// (listed via the S3 API afterwards: none) and succeeds.
func TestRemoteSaveKilledMidUpload(t *testing.T) {
	bin := buildEtcdmedic(t)
	mc := startMinio(t)
	mc.createBucket("kill")
	c := bigCluster(t)
	u := mc.url("kill", "nightly")
	cmd := exec.Command(bin, "snapshot", "save", "--to", u, "--endpoints", c.Endpoints()[0], "--stall-timeout", "5m")
	cmd.Env = append([]string{"HOME=" + t.TempDir()}, awsEnv()...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	m := c.Member(0)
	deadline := time.Now().Add(90 * time.Second)
	for len(mc.uploads("kill")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no multipart upload appeared")
		}
		select {
		case err := <-exited:
			t.Fatalf("save finished before it could be killed: %v", err)
		default:
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Freeze the member so the upload is certainly mid-way when killed.
	if err := m.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	if err := m.Resume(); err != nil {
		t.Fatal(err)
	}
	if f := finalObjects(mc.keys("kill")); len(f) != 0 {
		t.Fatalf("a killed save left objects under final names: %v", f)
	}
	left := mc.uploads("kill")
	// The stream went straight to the final key, which S3 shows only once
	// the upload is completed: killed, it is an incomplete upload there.
	if len(left) != 1 || !strings.HasPrefix(left[0], "nightly/etcd-") {
		t.Fatalf("incomplete uploads after the kill: %v, want one to a final name under nightly/", left)
	}

	out, _ := saveRemote(t, env(c), "--to", u)
	if len(out.Save.AbortedUploads) != 1 || out.Save.AbortedUploads[0] != "multipart:"+left[0] {
		t.Errorf("aborted %v, want [multipart:%s]", out.Save.AbortedUploads, left[0])
	}
	if u := mc.uploads("kill"); len(u) != 0 {
		t.Fatalf("incomplete uploads after the next run: %v", u)
	}
	if u := mc.uploadsOf("kill", left[0]); len(u) != 0 {
		t.Fatalf("incomplete uploads of %s after the next run: %v", left[0], u)
	}
	if f := finalObjects(mc.keys("kill")); len(f) != 2 {
		t.Fatalf("objects after the next run: %v", f)
	}
	if r := clitest.Run(t, nil, "snapshot", "verify", withName(u, path.Base(out.Save.Path))); r.Code != 0 {
		t.Fatalf("verify exit %d", r.Code)
	}
}

// saveUntilParts starts a save to the bucket as a process of its own, as a
// scheduled job is (a next run must see that the upload's process is gone),
// and returns once the server holds parts of its multipart upload: done
// receives its exit code.
func saveUntilParts(t *testing.T, bin string, mc *minio, bucket string, c *playground.Cluster, stallTimeout string, parts int) (*exec.Cmd, <-chan int, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(bin, "snapshot", "save", "--to", mc.url(bucket, ""), "--endpoints", c.Endpoints()[0], "--stall-timeout", stallTimeout)
	cmd.Env = append([]string{"HOME=" + t.TempDir()}, awsEnv()...)
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() { cmd.Wait(); done <- cmd.ProcessState.ExitCode() }()
	deadline := time.Now().Add(90 * time.Second)
	for mc.parts(bucket) < parts {
		if time.Now().After(deadline) {
			t.Fatal("no multipart upload with parts appeared")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cmd, done, stderr
}

// endedSave waits at most within for a save started by saveUntilParts to
// end after a fault, and checks it said why in one line without the secret.
func endedSave(t *testing.T, cmd *exec.Cmd, done <-chan int, stderr *strings.Builder, within time.Duration, fault string) int {
	t.Helper()
	var code int
	select {
	case code = <-done:
	case <-time.After(within):
		cmd.Process.Kill()
		t.Fatalf("save did not end within %s of %s", within, fault)
	}
	t.Logf("save with %s: exit %d: %s", fault, code, stderr.String())
	if strings.Count(strings.TrimSpace(stderr.String()), "\n") > 0 {
		t.Fatalf("save with %s: stderr %q, want one line", fault, stderr.String())
	}
	if strings.Contains(stderr.String(), minioSecret) {
		t.Fatal("the secret key was printed")
	}
	// The cause in words, not the request the SDK retried.
	if strings.Contains(stderr.String(), "uploadId=") || strings.Contains(stderr.String(), "RequestID") {
		t.Fatalf("save with %s: stderr %q; want the failed operation and its cause, without the request URL", fault, stderr.String())
	}
	return code
}

// TestRemoteServerKilledMidUpload: MinIO SIGKILLed during the upload makes
// save fail (exit 2) with no final object; restarted, the next save aborts
// the leftover upload and succeeds.
func TestRemoteServerKilledMidUpload(t *testing.T) {
	bin := buildEtcdmedic(t)
	mc := startMinio(t)
	mc.createBucket("crash")
	c := bigCluster(t)
	u := mc.url("crash", "")
	// Parts on disk first: the leftover must be a real one to abort.
	cmd, done, stderr := saveUntilParts(t, bin, mc, "crash", c, "5m", 2)
	before := mc.uploads("crash")
	if len(before) != 1 {
		t.Fatalf("uploads before the crash: %v, want one", before)
	}
	mc.kill()
	if code := endedSave(t, cmd, done, stderr, 3*time.Minute, "the server killed"); code != 2 {
		t.Fatalf("save with the server killed: exit %d, want 2", code)
	}
	mc.start()
	if f := finalObjects(mc.keys("crash")); len(f) != 0 {
		t.Fatalf("objects under final names after the crash: %v", f)
	}
	left := mc.uploadsOf("crash", before[0])
	if len(left) != 1 {
		t.Fatalf("incomplete uploads of %s after the crash and restart: %v, want one", before[0], left)
	}
	out, _ := saveRemote(t, env(c), "--to", u)
	if len(out.Save.AbortedUploads) != 1 || out.Save.AbortedUploads[0] != "multipart:"+left[0] {
		t.Errorf("the next save aborted %v; left was %v", out.Save.AbortedUploads, left)
	}
	if u := mc.uploadsOf("crash", before[0]); len(u) != 0 {
		t.Fatalf("incomplete uploads of %s after the next save: %v", before[0], u)
	}
	if k := mc.keys("crash"); len(k) != 2 {
		t.Fatalf("objects after the next save: %v, want the snapshot and its metadata (no intent left)", k)
	}
}

// awsEnv is the credentials environment for a child process.
func awsEnv() []string {
	var out []string
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_EC2_METADATA_DISABLED"} {
		out = append(out, k+"="+os.Getenv(k))
	}
	return out
}

// TestRemotePruneMatchesLocal: the same snapshot names in a directory and
// under an S3 prefix give the same keep/delete decisions, and prune on S3
// never touches objects it did not name.
func TestRemotePruneMatchesLocal(t *testing.T) {
	mc := startMinio(t)
	mc.createBucket("prune")
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	src := save(t, env(c), t.TempDir()).Save.Path
	local := t.TempDir()
	now := time.Now().UTC()
	ages := []time.Duration{time.Hour, 3 * time.Hour, 26 * time.Hour, 50 * time.Hour, 8 * 24 * time.Hour, 15 * 24 * time.Hour, 40 * 24 * time.Hour}
	for _, a := range ages {
		p := copyDated(t, src, local, now.Add(-a))
		for _, f := range []string{p, snap.MetaPath(p)} {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			mc.put("prune", "p/"+filepath.Base(f), b, nil)
		}
	}
	foreign := []string{"p/notes.txt", "p/etcd-backup-by-hand.db", "other/" + filepath.Base(src)}
	for _, k := range foreign {
		mc.put("prune", k, []byte("not ours"), nil)
	}
	policy := []string{"--keep-last", "1", "--keep-daily", "2", "--keep-weekly", "2", "--yes", "-o", "json"}
	decide := func(target string) (kept, deleted []string) {
		r := clitest.Run(t, nil, append([]string{"snapshot", "prune", target}, policy...)...)
		if r.Code != 0 {
			t.Fatalf("prune %s: exit %d", target, r.Code)
		}
		var res struct {
			Decisions []struct {
				Path string
				Keep bool
			}
		}
		if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
			t.Fatal(err)
		}
		for _, d := range res.Decisions {
			if d.Keep {
				kept = append(kept, path.Base(d.Path))
			} else {
				deleted = append(deleted, path.Base(d.Path))
			}
		}
		sort.Strings(kept)
		sort.Strings(deleted)
		return
	}
	lk, ld := decide(local)
	rk, rd := decide(mc.url("prune", "p"))
	if strings.Join(lk, ",") != strings.Join(rk, ",") || strings.Join(ld, ",") != strings.Join(rd, ",") {
		t.Fatalf("local kept %v deleted %v; S3 kept %v deleted %v", lk, ld, rk, rd)
	}
	if len(ld) == 0 || len(lk) == 0 {
		t.Fatalf("the policy should keep some and delete some: kept %v, deleted %v", lk, ld)
	}
	keys := map[string]bool{}
	for _, k := range mc.keys("prune") {
		keys[k] = true
	}
	for _, k := range foreign {
		if !keys[k] {
			t.Errorf("prune removed %s, which it did not name", k)
		}
	}
	for _, n := range rd {
		if keys["p/"+n] || keys["p/"+n+".meta.json"] {
			t.Errorf("%s (or its metadata) still there after prune", n)
		}
	}
	for _, n := range rk {
		if !keys["p/"+n] || !keys["p/"+n+".meta.json"] {
			t.Errorf("kept %s is missing", n)
		}
	}
}

// TestRemoteBadInput: unknown scheme, malformed URL, missing bucket are
// usage errors (64); wrong credentials cannot authenticate (3); one line,
// no secret printed, nothing written.
func TestRemoteBadInput(t *testing.T) {
	mc := startMinio(t)
	mc.createBucket("real")
	cases := []struct {
		name string
		args []string
		want int
	}{
		{"unknown scheme", []string{"snapshot", "list", "ftp://host/dir"}, 64},
		{"malformed URL", []string{"snapshot", "list", "s3://bad host/%zz"}, 64},
		{"unknown query parameter", []string{"snapshot", "list", mc.url("real", "") + "&colour=blue"}, 64},
		{"missing bucket", []string{"snapshot", "list", mc.url("nosuchbucket", "")}, 64},
		{"save unknown scheme", []string{"snapshot", "save", "--to", "ftp://x/y", "--endpoints", "127.0.0.1:1"}, 64},
		{"save bad recipient", []string{"snapshot", "save", "--to", mc.url("real", ""), "--encrypt-to", "age1nope", "--endpoints", "127.0.0.1:1"}, 64},
		{"verify needs a name", []string{"snapshot", "verify", mc.url("real", "")}, 64},
		{"missing object", []string{"snapshot", "verify", withName(mc.url("real", ""), "etcd-0000000000000001-1-20260101T000000.000Z.db")}, 64},
	}
	for _, tc := range cases {
		r := clitest.Run(t, nil, tc.args...)
		if r.Code != tc.want {
			t.Errorf("%s: exit %d, want %d", tc.name, r.Code, tc.want)
		}
		if n := errorLines(r.Stderr); n != 1 {
			t.Errorf("%s: %d error lines on stderr, want one", tc.name, n)
		}
		noSecret(t, r)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", minioSecret+"-wrong")
	r := clitest.Run(t, nil, "snapshot", "list", mc.url("real", ""))
	// Said in words, with what to check.
	if r.Code != 3 || !strings.Contains(r.Stderr, "the storage refused the credentials (SignatureDoesNotMatch): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") {
		t.Errorf("wrong credentials: exit %d, stderr %q; want 3 and the credentials refused", r.Code, r.Stderr)
	}
	if strings.Contains(r.Stdout+r.Stderr, minioSecret) {
		t.Errorf("the (wrong) secret was printed: %s", r.Stderr)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "nosuchkey")
	if r := clitest.Run(t, nil, "snapshot", "list", mc.url("real", "")); r.Code != 3 || !strings.Contains(r.Stderr, "(InvalidAccessKeyId)") || errorLines(r.Stderr) != 1 {
		t.Errorf("unknown access key: exit %d, stderr %q; want 3, one line naming InvalidAccessKeyId", r.Code, r.Stderr)
	}
	if k := mc.keys("real"); len(k) != 0 {
		t.Errorf("objects written: %v", k)
	}
}

// TestRemoteUsageErrors needs no server: a bad URL, recipient or identity is
// a one-line usage error (64) before anything is contacted or written.
func TestRemoteUsageErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
	}{
		{"unknown scheme", []string{"snapshot", "list", "ftp://host/dir"}},
		{"malformed URL", []string{"snapshot", "list", "s3://bad host/%zz"}},
		{"credentials in the URL", []string{"snapshot", "list", "s3://AKIA:secret@bucket/p"}},
		{"credentials with a '/' in the URL", []string{"snapshot", "list", "s3://AKIA:x/secret@bucket/p"}},
		{"credentials with a ':' and '@' in the URL", []string{"snapshot", "list", "s3://AKIA:x:secret@y@bucket/p"}},
		{"save a secret key as the recipient", []string{"snapshot", "save", "--to", "file://" + dir, "--encrypt-to", "AGE-SECRET-KEY-1SECRETSECRET", "--endpoints", "127.0.0.1:1"}},
		{"verify with a key as the identity", []string{"snapshot", "verify", "file://" + dir + "/etcd-0000000000000001-1-20260101T000000.000Z.db.age", "--identity", "AGE-SECRET-KEY-1SECRETSECRET"}},
		{"file URL, no such dir", []string{"snapshot", "list", "file://" + dir + "/nope"}},
		{"save unknown scheme", []string{"snapshot", "save", "--to", "ftp://x/y", "--endpoints", "127.0.0.1:1"}},
		{"save bad recipient", []string{"snapshot", "save", "--to", "file://" + dir, "--encrypt-to", "age1nope", "--endpoints", "127.0.0.1:1"}},
		{"save DIR and --to", []string{"snapshot", "save", dir, "--to", "file://" + dir, "--endpoints", "127.0.0.1:1"}},
		{"verify a destination, no name", []string{"snapshot", "verify", "file://" + dir}},
		{"verify, identity file missing", []string{"snapshot", "verify", "file://" + dir + "/etcd-0000000000000001-1-20260101T000000.000Z.db.age", "--identity", dir + "/no.key"}},
		{"drill, no snapshot there", []string{"snapshot", "drill", "file://" + dir + "/nope"}},
		{"drill, start timeout", []string{"snapshot", "drill", dir, "--start-timeout", "0s"}},
		{"prune one snapshot", []string{"snapshot", "prune", "file://" + dir + "/etcd-0000000000000001-1-20260101T000000.000Z.db", "--keep-last", "1"}},
	}
	for _, tc := range cases {
		r := clitest.Run(t, nil, tc.args...)
		if r.Code != 64 {
			t.Errorf("%s: exit %d, want 64", tc.name, r.Code)
		}
		if strings.Contains(r.Stderr, "AKIA") || strings.Contains(strings.ToLower(r.Stderr), "secret@") || strings.Contains(r.Stderr, "SECRETSECRET") || strings.Contains(r.Stderr, "x/secret") {
			t.Errorf("%s: the URL's secret was printed: %s", tc.name, r.Stderr)
		}
		if n := errorLines(r.Stderr); n != 1 {
			t.Errorf("%s: %d error lines on stderr, want one", tc.name, n)
		}
	}
	if des, _ := os.ReadDir(dir); len(des) != 0 {
		t.Errorf("files written: %v", des)
	}
}

// A directory may have an @ in its name: a file:// URL has no user info to
// refuse, and its messages name the whole path.
func TestFileURLWithAnAtInItsPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etcd@prod")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if r := clitest.Run(t, nil, "snapshot", "list", "file://"+dir); r.Code != 0 {
		t.Fatalf("list file://%s: exit %d: %s", dir, r.Code, r.Stderr)
	}
	r := clitest.Run(t, nil, "snapshot", "list", "file://"+dir+"/missing")
	if r.Code != 64 || !strings.Contains(r.Stderr, "file://"+dir+"/missing") {
		t.Fatalf("list of a missing dir: exit %d, stderr %q; want 64 naming the whole path", r.Code, r.Stderr)
	}
}

// errorLines counts stderr's lines other than the usage hint.
func errorLines(stderr string) int {
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if l != "" && !strings.HasPrefix(l, "Run 'etcdmedic") {
			n++
		}
	}
	return n
}

// TestRemoteServerHungMidUpload: MinIO SIGSTOPped during the upload keeps
// its connections open (the kernel still answers), so only an idle bound
// ends the save: with --stall-timeout 3s it fails within seconds (a stalled
// request is not retried), one line, no final object; resumed, the next save
// aborts the leftover upload. Before the bound, the save waited until killed.
func TestRemoteServerHungMidUpload(t *testing.T) {
	bin := buildEtcdmedic(t)
	mc := startMinio(t)
	mc.createBucket("hung")
	c := bigCluster(t)
	u := mc.url("hung", "")
	cmd, done, stderr := saveUntilParts(t, bin, mc, "hung", c, "3s", 1)
	if err := mc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	resumed := false
	resume := func() {
		if !resumed {
			mc.cmd.Process.Signal(syscall.SIGCONT)
			resumed = true
		}
	}
	defer resume()
	code := endedSave(t, cmd, done, stderr, time.Minute, "the server hung (--stall-timeout 3s)")
	took := time.Since(stopped)
	t.Logf("ended %s after the server hung", took.Round(time.Millisecond))
	resume()
	// A stalled part is not tried again, nor the abort that follows: about
	// two stall timeouts. Each retry waited a whole one (18 s before).
	if took > 4*3*time.Second {
		t.Fatalf("save ended %s after the server hung with --stall-timeout 3s: it waited out retries of stalled requests", took.Round(time.Millisecond))
	}
	if code != 2 && code != 3 {
		t.Fatalf("save with the server hung: exit %d, want 2 or 3", code)
	}
	if f := finalObjects(mc.keys("hung")); len(f) != 0 {
		t.Fatalf("objects under final names after the hang: %v", f)
	}
	out, _ := saveRemote(t, env(c), "--to", u)
	if out.Save.Path == "" || len(finalObjects(mc.keys("hung"))) != 2 {
		t.Fatalf("the next save: %+v, objects %v", out.Save, mc.keys("hung"))
	}
}
