package main

import (
	"archive/tar"
	"bufio"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image as scripts/build-image.sh builds it, checked from its OCI
// layout: both platforms in the index, OCI media types, the config a pod
// spec relies on, and etcdmedic, etcd and etcdutl in each layer, built for
// its platform and static, etcd's two at go.mod's pin. The amd64 layer,
// extracted, answers version and status against a playground it starts
// itself, and runs the chart's snapshot drill of that playground's snapshot
// with nothing of the host's on PATH. Where podman is installed, the
// image runs in a container too (podmanRun).
func TestImageFromScratch(t *testing.T) {
	out := t.TempDir()
	created := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	res, err := build(options{
		repoRoot: "../..", out: out, version: "v9.8.7-test", commit: "abc123",
		source: "https://github.com/etcdmedic/etcdmedic", tag: "ghcr.io/etcdmedic/etcdmedic",
		caFile: "/etc/ssl/certs/ca-certificates.crt", platforms: []string{"linux/amd64", "linux/arm64"}, created: created,
	})
	if err != nil {
		t.Fatal(err)
	}
	lp, err := layout.FromPath(res.layout)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != types.OCIImageIndex {
		t.Errorf("index media type %q, want OCI", im.MediaType)
	}
	var plats []string
	roots := map[string]string{}
	for _, d := range im.Manifests {
		if d.Platform == nil {
			t.Fatalf("manifest %s has no platform", d.Digest)
		}
		plat := d.Platform.OS + "/" + d.Platform.Architecture
		plats = append(plats, plat)
		if d.MediaType != types.OCIManifestSchema1 {
			t.Errorf("%s: manifest media type %q, want OCI", plat, d.MediaType)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		checkConfig(t, plat, img, true)
		roots[plat] = t.TempDir()
		extractLayer(t, img, roots[plat])
	}
	slices.Sort(plats)
	if !slices.Equal(plats, []string{"linux/amd64", "linux/arm64"}) {
		t.Fatalf("index platforms = %v", plats)
	}
	for plat, machine := range map[string]elf.Machine{"linux/amd64": elf.EM_X86_64, "linux/arm64": elf.EM_AARCH64} {
		for _, b := range imageBinaries {
			name := b.name
			f, err := elf.Open(filepath.Join(roots[plat], binDir, name))
			if err != nil {
				t.Fatal(err)
			}
			if f.Machine != machine {
				t.Errorf("%s %s is for %s", plat, name, f.Machine)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s %s is dynamically linked (CGO_ENABLED=0 expected)", plat, name)
				}
			}
			f.Close()
		}
	}

	// etcd and etcdutl are the mains of go.mod's etcd pin, from the module
	// proxy (a module version, not a local or replaced tree).
	pin := pinnedEtcd(t)
	for plat, root := range roots {
		for _, b := range imageBinaries[1:] {
			bi, err := buildinfo.ReadFile(filepath.Join(root, binDir, b.name))
			if err != nil {
				t.Fatal(err)
			}
			if bi.Path != b.pkg || bi.Main.Path != b.pkg || bi.Main.Version != pin || bi.Main.Sum == "" {
				t.Errorf("%s %s was built from %s %s %s (%s), want %s %s", plat, b.name, bi.Main.Path, bi.Main.Version, bi.Main.Sum, bi.Path, b.pkg, pin)
			}
		}
	}

	// The docker tarball of each platform loads back as the same image
	// (docker's format carries docker media types).
	for plat, path := range res.dockerTars {
		img, err := tarball.ImageFromPath(path, nil)
		if err != nil {
			t.Fatalf("%s docker tarball: %v", plat, err)
		}
		checkConfig(t, plat, img, false)
	}
	if st, err := os.Stat(res.archive); err != nil || st.Size() == 0 {
		t.Fatalf("OCI archive: %v", err)
	}

	root := roots["linux/amd64"]
	bin := filepath.Join(root, binDir, "etcdmedic")
	v, err := exec.Command(bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("extracted binary: version: %v", err)
	}
	var info struct{ Version, Commit, Platform string }
	if err := json.Unmarshal(v, &info); err != nil || info.Version != "v9.8.7-test" || info.Commit != "abc123" || info.Platform != "linux/amd64" {
		t.Fatalf("version = %s (%v)", v, err)
	}
	etcdVersions(t, root, pin)
	ep := startPlayground(t, bin)
	statusOf(t, bin, ep)
	drillInImage(t, root, ep)
	podmanRun(t, res.dockerTars["linux/amd64"], ep)
}

func checkConfig(t *testing.T, plat string, img v1.Image, oci bool) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.OS + "/" + cf.Architecture; got != plat {
		t.Errorf("%s: config platform %s", plat, got)
	}
	c := cf.Config
	if !slices.Equal(c.Entrypoint, []string{"etcdmedic"}) || c.User != "65532:65532" {
		t.Errorf("%s: entrypoint %q user %q", plat, c.Entrypoint, c.User)
	}
	if c.Labels["org.opencontainers.image.version"] != "v9.8.7-test" || c.Labels["org.opencontainers.image.source"] != "https://github.com/etcdmedic/etcdmedic" || c.Labels["org.opencontainers.image.revision"] != "abc123" {
		t.Errorf("%s: labels %v", plat, c.Labels)
	}
	if got, want := c.Labels[etcdVersionLabel], pinnedEtcd(t); got != want {
		t.Errorf("%s: label %s = %q, want go.mod's %s", plat, etcdVersionLabel, got, want)
	}
	// The slim etcdmedic finds etcd and etcdutl on PATH (and beside itself).
	if !slices.Contains(c.Env, "PATH=/"+binDir) {
		t.Errorf("%s: env %q does not put /%s on PATH", plat, c.Env, binDir)
	}
	if !oci {
		return
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != types.OCIConfigJSON || len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer {
		t.Errorf("%s: config %q layers %+v, want OCI config and one OCI gzip layer", plat, m.Config.MediaType, m.Layers)
	}
}

// extractLayer writes the layer's directories and regular files under root
// (modes kept, owners not: the test runs them as itself) and checks the
// files the image cannot work without.
func extractLayer(t *testing.T, img v1.Image, root string) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	seen := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[strings.TrimSuffix(h.Name, "/")] = h
		dst := filepath.Join(root, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			// Owner-writable here whatever the image says (home is 0700,
			// /tmp 1777): the test only reads and runs what is inside.
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, os.FileMode(h.Mode)&0o777)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		default:
			t.Errorf("layer entry %s has type %c: the image has only directories and files", h.Name, h.Typeflag)
		}
	}
	if h := seen["etc/ssl/certs/ca-certificates.crt"]; h == nil || h.Size < 100000 {
		t.Errorf("CA bundle missing or short: %+v", h)
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc", "passwd")); err != nil || !strings.Contains(string(b), "nonroot:x:65532:65532:") {
		t.Errorf("etc/passwd has no user 65532: %q (%v)", b, err)
	}
	for _, b := range imageBinaries {
		if h := seen[binDir+"/"+b.name]; h == nil || h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
			t.Fatalf("%s/%s missing or not executable: %+v", binDir, b.name, h)
		}
	}
}

// etcdVersions runs the layer's etcd and etcdutl, which must report the
// release go.mod pins.
func etcdVersions(t *testing.T, root, pin string) {
	t.Helper()
	for name, arg := range map[string]string{"etcd": "--version", "etcdutl": "version"} {
		cmd := exec.Command(filepath.Join(root, binDir, name), arg)
		cmd.Env = []string{"PATH=" + filepath.Join(root, binDir)}
		out, err := cmd.Output()
		first, _, _ := strings.Cut(string(out), "\n")
		_, v, _ := strings.Cut(first, ": ")
		if err != nil || v != strings.TrimPrefix(pin, "v") {
			t.Errorf("%s %s: %q (%v), want version %s from go.mod", name, arg, out, err, pin)
		}
	}
}

// releaseEtcdDir is where scripts/build-etcd.sh caches the release etcd
// of go.mod's pin: the source cluster of the snapshots, never the image's.
func releaseEtcdDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(cacheDir(), "etcd", pinnedEtcd(t), "bin")
	if _, err := os.Stat(filepath.Join(dir, "etcd")); err != nil {
		t.Fatalf("no release etcd %s: run scripts/build-etcd.sh (%v)", dir, err)
	}
	return dir
}

// pinnedEtcd is the etcd version go.mod requires, read from go.mod itself
// (not from build.go's go list) so the test checks the build against it.
func pinnedEtcd(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	vers := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && (f[0] == etcdModule || f[0] == etcdutlModule) {
			vers[f[0]] = f[1]
		}
	}
	if vers[etcdModule] == "" || vers[etcdModule] != vers[etcdutlModule] {
		t.Fatalf("go.mod pins %s %q and %s %q: want one etcd version", etcdModule, vers[etcdModule], etcdutlModule, vers[etcdutlModule])
	}
	return vers[etcdModule]
}

// startPlayground runs the extracted binary as a user would: a seeded
// one-member playground in the background, whose endpoint it returns. The
// image's binary is the slim release build, whose playground runs etcd's
// own etcd: here the release etcd scripts/build-etcd.sh caches.
func startPlayground(t *testing.T, bin string) string {
	// Named, not on PATH: a slim etcdmedic prefers the etcd beside it, and
	// the snapshot's source is to be the release etcd, not the image's.
	pg := exec.Command(bin, "playground", "--members", "1", "--base-port", "0", "--seed", "--etcd-binary", filepath.Join(releaseEtcdDir(t), "etcd"))
	pg.Env = append(os.Environ(), "HOME="+t.TempDir())
	stdout, err := pg.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	pg.Stderr = os.Stderr
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	t.Cleanup(func() {
		pg.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			pg.Process.Kill()
			t.Errorf("playground did not stop on SIGINT")
		}
	})
	endpoints := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export ETCDCTL_ENDPOINTS="); ok {
				endpoints <- v
			}
		}
		done <- pg.Wait()
	}()
	select {
	case ep := <-endpoints:
		return ep
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("playground exited before printing its endpoints: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("playground printed no endpoints within 2 minutes")
	}
	return ""
}

func statusOf(t *testing.T, bin, ep string) {
	cmd := exec.Command(bin, "status", "-o", "json", "--endpoints", ep)
	cmd.Env = []string{"HOME=" + t.TempDir()}
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, b)
	}
	var r struct {
		Members []struct{ Endpoint, Verdict string }
	}
	if err := json.Unmarshal(b, &r); err != nil || len(r.Members) != 1 || r.Members[0].Verdict != "healthy" {
		t.Fatalf("status -o json = %s (%v)", b, err)
	}
}

// drillInImage is the chart's weekly drill CronJob run from the image: the
// extracted layer's etcdmedic saves a snapshot of the playground, then
// drills it with PATH holding the image's PATH directory and nothing of the
// host's, so the member it starts (and, where the build runs etcdutl, the
// restore) can only be the image's own etcd binaries. The same drill with
// etcdmedic alone in that directory (the image before it carried etcd)
// must fail: that shows the host's etcd cannot stand in.
func drillInImage(t *testing.T, root, ep string) {
	bindir := filepath.Join(root, binDir)
	env := []string{"PATH=" + bindir, "HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir()}
	run := func(dir string, args ...string) ([]byte, string, int) {
		cmd := exec.Command(filepath.Join(dir, "etcdmedic"), args...)
		cmd.Env = env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("etcdmedic %s: %v", strings.Join(args, " "), err)
		}
		return out, stderr.String(), cmd.ProcessState.ExitCode()
	}
	backups := t.TempDir()
	if out, stderr, code := run(bindir, "snapshot", "save", backups, "--endpoints", ep, "-o", "json"); code != 0 {
		t.Fatalf("snapshot save: exit %d\n%s\n%s", code, out, stderr)
	}

	out, stderr, code := run(bindir, "snapshot", "drill", backups, "--temp-dir", t.TempDir(), "-o", "json")
	var r struct {
		Matched                               bool
		Revision, ExpectedRevision, TotalKeys int64
		ExpectedKeys                          int64
		Problems                              []string
	}
	if code != 0 || json.Unmarshal(out, &r) != nil || !r.Matched || r.Revision == 0 || r.Revision != r.ExpectedRevision || r.TotalKeys < 10 || r.TotalKeys != r.ExpectedKeys {
		t.Fatalf("snapshot drill from the image: exit %d, want 0 and a match of the seeded snapshot\n%s\n%s", code, out, stderr)
	}
	t.Logf("drill from the image's layer: revision %d, %d keys, matched", r.Revision, r.TotalKeys)

	alone := t.TempDir()
	if err := os.Link(filepath.Join(bindir, "etcdmedic"), filepath.Join(alone, "etcdmedic")); err != nil {
		t.Fatal(err)
	}
	env[0] = "PATH=" + alone
	if out, stderr, code := run(alone, "snapshot", "drill", backups, "--temp-dir", t.TempDir(), "-o", "json"); code == 0 || !strings.Contains(stderr, "etcd") {
		t.Errorf("drill with etcdmedic alone on PATH: exit %d, want a failure naming the missing etcd\n%s\n%s", code, out, stderr)
	}
}
