package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// podmanRuntime is the runtime the test asks podman for. Debian's default,
// crun, refuses a host whose cgroup v1 hierarchies sit beside a cgroup v2
// mount ("cgroups in hybrid mode not supported"), as on the machines CI
// runs on; runc runs there and on a plain v2 host alike.
const podmanRuntime = "runc"

// podmanLimits replace podman's default rlimits (nofile 1048576): a runtime
// cannot raise a hard limit above the one it inherited without
// CAP_SYS_RESOURCE, which the CI machine's root lacks ("setrlimit
// RLIMIT_NOFILE: Operation not permitted"). etcdmedic and the drill's etcd
// need far fewer.
var podmanLimits = []string{"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"}

// podmanRun is the image run for real by a container runtime, as a CronJob
// runs it: the platform's docker tarball loaded into a private podman
// store (podman 4.3 cannot load the two-platform OCI archive: "more than
// one image in oci, choose an image"), then
// `version`, `status` of the playground, and the chart's save-then-drill
// pair, each in a container of its own with a read-only root, every
// capability dropped and the image's user, the backups on a volume. The
// snapshot files the containers write belong to user 65532: the image does
// not run as root.
//
// Without podman on PATH this part is left out, unless ETCDMEDIC_PODMAN is
// set (scripts/test.sh installs podman and sets it): then it fails.
func podmanRun(t *testing.T, dockerTar, ep string) {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		if os.Getenv("ETCDMEDIC_PODMAN") != "" {
			t.Fatalf("ETCDMEDIC_PODMAN is set but podman is not on PATH: %v", err)
		}
		t.Log("podman not on PATH: the image is not run by a container runtime (scripts/test.sh installs it)")
		return
	}
	store := t.TempDir()
	podman := func(args ...string) (string, error) {
		base := []string{"--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"), "--storage-driver", "vfs"}
		out, err := exec.Command("podman", append(base, args...)...).CombinedOutput()
		return string(out), err
	}
	out, err := podman("load", "-i", dockerTar)
	if err != nil {
		t.Fatalf("podman load: %v\n%s", err, out)
	}
	image := ""
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "Loaded image: "); ok {
			image = strings.TrimSpace(v)
		}
	}
	if image == "" {
		t.Fatalf("podman load named no image:\n%s", out)
	}
	out, err = podman("image", "inspect", "--format", "{{.Os}}/{{.Architecture}} {{.Config.User}} {{json .Config.Entrypoint}}", image)
	if got := strings.TrimSpace(out); err != nil || got != `linux/amd64 65532:65532 ["etcdmedic"]` {
		t.Fatalf("podman image inspect: %q (%v), want linux/amd64, user 65532, entrypoint etcdmedic", got, err)
	}

	backups := t.TempDir()
	if err := os.Chmod(backups, 0o777); err != nil { // the container's user writes here
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		argv := append([]string{"run", "--rm", "--runtime", podmanRuntime, "--network", "host", "--read-only", "--cap-drop", "all",
			"-v", backups + ":/backups"}, podmanLimits...)
		out, err := podman(append(append(argv, image), args...)...)
		if err != nil {
			t.Fatalf("podman run %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	var v struct{ Version, Platform string }
	if out := run("version", "-o", "json"); json.Unmarshal([]byte(out), &v) != nil || v.Version != "v9.8.7-test" || v.Platform != "linux/amd64" {
		t.Fatalf("version in the container: %s", out)
	}
	var st struct{ Members []struct{ Verdict string } }
	if out := run("status", "-o", "json", "--endpoints", ep); json.Unmarshal([]byte(out), &st) != nil || len(st.Members) != 1 || st.Members[0].Verdict != "healthy" {
		t.Fatalf("status in the container: %s", out)
	}
	run("snapshot", "save", "/backups", "--endpoints", ep)
	var d struct {
		Matched   bool
		TotalKeys int64
	}
	if out := run("snapshot", "drill", "/backups", "-o", "json"); json.Unmarshal([]byte(out), &d) != nil || !d.Matched || d.TotalKeys < 10 {
		t.Fatalf("snapshot drill in the container: %s", out)
	}
	files, err := os.ReadDir(backups)
	if err != nil || len(files) == 0 {
		t.Fatalf("the save in the container left nothing on the volume: %v", err)
	}
	for _, f := range files {
		info, err := f.Info()
		if err != nil {
			t.Fatal(err)
		}
		if uid := fileOwner(info); uid != 65532 {
			t.Errorf("%s on the volume belongs to uid %d, want the image's 65532", f.Name(), uid)
		}
	}
	t.Logf("podman (%s): version, status, snapshot save and drill ran in the image as 65532 with a read-only root", podmanRuntime)
}

func fileOwner(info os.FileInfo) int {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
