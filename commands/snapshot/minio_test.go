package snapshot_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// minioVersion is what scripts/build-minio.sh builds by default.
const minioVersion = "v0.0.0-20260212201848-7aac2a2c5b7c"

// The test credentials: long and distinctive, so a grep of every output for
// the secret proves it was never printed.
const (
	minioUser   = "etcdmedic-test-user"
	minioSecret = "s3cr3t-Zq9vW2xK7pL4mN8r"
)

// minioBinary finds the server scripts/build-minio.sh caches (see cachedBinary).
func minioBinary(t *testing.T) string {
	return cachedBinary(t, "ETCDMEDIC_MINIO", filepath.Join("minio", minioVersion, "minio"), "scripts/build-minio.sh")
}

// cachedBinary finds a test server a script in scripts/ builds and caches.
// scripts/test.sh builds it and exports envVar: then a missing binary fails
// the test. Outside it (a quick `go test` by hand) a missing one skips.
func cachedBinary(t *testing.T, envVar, rel, script string) string {
	t.Helper()
	if p := os.Getenv(envVar); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", envVar, p, err)
		}
		return p
	}
	cache := os.Getenv("ETCDMEDIC_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache/etcdmedic")
	}
	bin := filepath.Join(cache, rel)
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no %s at %s: run %s (scripts/test.sh does)", filepath.Base(rel), bin, script)
	}
	return bin
}

// minio is a real MinIO server on 127.0.0.1, a random port and a temp dir.
type minio struct {
	t      *testing.T
	bin    string
	dir    string
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
}

func startMinio(t *testing.T) *minio {
	t.Helper()
	m := &minio{t: t, bin: minioBinary(t), dir: t.TempDir(), port: playgroundtest.FreePort(t)}
	m.start()
	t.Cleanup(m.kill)
	// The tool finds credentials where AWS tools do; nothing from this
	// machine's own ~/.aws may leak in.
	t.Setenv("AWS_ACCESS_KEY_ID", minioUser)
	t.Setenv("AWS_SECRET_ACCESS_KEY", minioSecret)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(m.dir, "no-aws-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(m.dir, "no-aws-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return m
}

func (m *minio) start() {
	t := m.t
	t.Helper()
	console := playgroundtest.FreePort(t)
	m.cmd = exec.Command(m.bin, "server", "--quiet", "--address", fmt.Sprintf("127.0.0.1:%d", m.port),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", console), filepath.Join(m.dir, "data"))
	m.cmd.Env = []string{"HOME=" + m.dir, "MINIO_ROOT_USER=" + minioUser, "MINIO_ROOT_PASSWORD=" + minioSecret,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off"}
	logf, err := os.OpenFile(filepath.Join(m.dir, "minio.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m.exited = make(chan struct{})
	go func() { m.cmd.Wait(); logf.Close(); close(m.exited) }()
	// /minio/health/cluster answers 503 until the object layer, IAM and
	// bucket metadata are up (live and ready answer 200 before that).
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-m.exited:
			b, _ := os.ReadFile(filepath.Join(m.dir, "minio.log"))
			t.Fatalf("minio exited at start:\n%s", tail(string(b), 3000))
		default:
		}
		resp, err := http.Get(m.endpoint() + "/minio/health/cluster")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("minio not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kill SIGKILLs the server (a crash, not a shutdown).
func (m *minio) kill() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.exited
}

func (m *minio) endpoint() string { return fmt.Sprintf("http://127.0.0.1:%d", m.port) }

// url is an s3:// destination on this server.
func (m *minio) url(bucket, prefix string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s&use_path_style=true&region=us-east-1", bucket, prefix, m.endpoint())
}

func (m *minio) client() *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(m.endpoint()), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(minioUser, minioSecret, ""),
	})
}

func (m *minio) createBucket(name string) {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := m.client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		m.t.Fatal(err)
	}
}

// keys lists every object key in a bucket.
func (m *minio) keys(bucket string) []string {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := m.client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		m.t.Fatal(err)
	}
	var ks []string
	for _, o := range out.Contents {
		ks = append(ks, aws.ToString(o.Key))
	}
	return ks
}

// uploads lists the incomplete multipart uploads of a bucket (MinIO lists
// them for the whole bucket or an exact key only).
func (m *minio) uploads(bucket string) []string { return m.uploadsOf(bucket, "") }

// uploadsOf lists the incomplete uploads of one exact key: after a restart
// MinIO's whole-bucket listing (served from memory) is empty, while an
// exact key is read from disk.
func (m *minio) uploadsOf(bucket, key string) []string {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)}
	if key != "" {
		in.Prefix = aws.String(key)
	}
	out, err := m.client().ListMultipartUploads(ctx, in)
	if err != nil {
		m.t.Fatal(err)
	}
	var ks []string
	for _, u := range out.Uploads {
		ks = append(ks, aws.ToString(u.Key))
	}
	return ks
}

func (m *minio) get(bucket, key string) []byte {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := m.client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		m.t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := readAllLimited(out.Body)
	if err != nil {
		m.t.Fatal(err)
	}
	return b
}

func (m *minio) put(bucket, key string, b []byte, meta map[string]string) {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := m.client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: bytesReader(b), Metadata: meta}); err != nil {
		m.t.Fatal(err)
	}
}

// parts counts the parts uploaded so far to a bucket's incomplete uploads.
func (m *minio) parts(bucket string) int {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := m.client()
	out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		m.t.Fatal(err)
	}
	n := 0
	for _, u := range out.Uploads {
		ps, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: u.Key, UploadId: u.UploadId})
		if err == nil {
			n += len(ps.Parts)
		}
	}
	return n
}
