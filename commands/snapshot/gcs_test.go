package snapshot_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// fakeGCSVersion is what scripts/build-fake-gcs.sh builds by default.
const fakeGCSVersion = "v1.56.1"

// fakeGCSBinary finds the server scripts/build-fake-gcs.sh caches (see cachedBinary).
func fakeGCSBinary(t *testing.T) string {
	return cachedBinary(t, "ETCDMEDIC_FAKE_GCS", filepath.Join("fake-gcs-server", fakeGCSVersion, "fake-gcs-server"), "scripts/build-fake-gcs.sh")
}

// startFakeGCS runs fake-gcs-server on a random loopback port with the
// buckets given, and points the storage client at it as Google's tools
// are pointed at an emulator (STORAGE_EMULATOR_HOST).
func startFakeGCS(t *testing.T, buckets ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, b := range buckets {
		if err := os.MkdirAll(filepath.Join(dir, "data", b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	port := playgroundtest.FreePort(t)
	host := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(fakeGCSBinary(t), "-scheme", "http", "-host", "127.0.0.1", "-port", fmt.Sprint(port),
		"-backend", "memory", "-data", filepath.Join(dir, "data"), "-public-host", host, "-log-level", "error")
	logf, err := os.Create(filepath.Join(dir, "fake-gcs.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGKILL); cmd.Wait(); logf.Close() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/storage/v1/b")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("fake-gcs-server not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Setenv("STORAGE_EMULATOR_HOST", host)
	return host
}

// gcsObjects lists a bucket's object names through the JSON API.
func gcsObjects(t *testing.T, host, bucket string) []string {
	t.Helper()
	resp, err := http.Get("http://" + host + "/storage/v1/b/" + bucket + "/o")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct{ Items []struct{ Name string } }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range list.Items {
		names = append(names, it.Name)
	}
	slices.Sort(names)
	return names
}

// TestRemoteRoundTripGCS is the acceptance path through gs://, against a
// second, independent server: save --to, list, verify, drill, restore, and
// etcd started on the restored dir holds every key of the source.
func TestRemoteRoundTripGCS(t *testing.T) {
	host := startFakeGCS(t, "snaps")
	remoteRoundTrip(t, "gs://snaps/prod/etcd", func(name string) {
		want := []string{"prod/etcd/" + name, "prod/etcd/" + name + ".meta.json"}
		if got := gcsObjects(t, host, "snaps"); !slices.Equal(got, want) {
			t.Fatalf("objects after save: %v, want %v (the temporary upload must be gone)", got, want)
		}
	})
}

// No Google credentials at all: one line that says so and where they are
// looked for, exit 3, and nothing on stdout but the command's own output
// (gocloud's opener printed a warning there, into -o json).
func TestGCSWithoutCredentials(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	t.Setenv("CLOUDSDK_CONFIG", filepath.Join(home, "gcloud"))
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	r := clitest.Run(t, nil, "snapshot", "list", "gs://somebucket/etcd")
	if r.Code != 3 || !strings.Contains(r.Stderr, "no Google credentials found: set GOOGLE_APPLICATION_CREDENTIALS") || errorLines(r.Stderr) != 1 {
		t.Errorf("exit %d, stderr %q; want 3 and one line saying no credentials were found", r.Code, r.Stderr)
	}
	// The warning went to the process's own stdout, which only a process
	// of its own shows.
	cmd := exec.Command(buildEtcdmedic(t), "snapshot", "list", "gs://somebucket/etcd", "-o", "json")
	cmd.Env = append(os.Environ(), "HOME="+home, "GOOGLE_APPLICATION_CREDENTIALS=", "CLOUDSDK_CONFIG="+filepath.Join(home, "gcloud"), "STORAGE_EMULATOR_HOST=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, _ := cmd.Output()
	if cmd.ProcessState.ExitCode() != 3 || strings.Contains(string(out), "Warning") || strings.Contains(string(out), "credentials") {
		t.Errorf("-o json: exit %d, stdout %q, stderr %q; want 3 and no warning on stdout", cmd.ProcessState.ExitCode(), out, stderr.String())
	}
}
