package main

import (
	"archive/tar"
	"bufio"
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
// spec relies on, and the binary of each layer built for its platform and
// static; the amd64 one, extracted, answers version and status against a
// playground it starts itself.
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
	bins := map[string]string{}
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
		bins[plat] = extractBinary(t, img, filepath.Join(t.TempDir(), "etcdmedic"))
	}
	slices.Sort(plats)
	if !slices.Equal(plats, []string{"linux/amd64", "linux/arm64"}) {
		t.Fatalf("index platforms = %v", plats)
	}
	for plat, machine := range map[string]elf.Machine{"linux/amd64": elf.EM_X86_64, "linux/arm64": elf.EM_AARCH64} {
		f, err := elf.Open(bins[plat])
		if err != nil {
			t.Fatal(err)
		}
		if f.Machine != machine {
			t.Errorf("%s binary is for %s", plat, f.Machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s binary is dynamically linked (CGO_ENABLED=0 expected)", plat)
			}
		}
		f.Close()
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

	bin := bins["linux/amd64"]
	v, err := exec.Command(bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("extracted binary: version: %v", err)
	}
	var info struct{ Version, Commit, Platform string }
	if err := json.Unmarshal(v, &info); err != nil || info.Version != "v9.8.7-test" || info.Commit != "abc123" || info.Platform != "linux/amd64" {
		t.Fatalf("version = %s (%v)", v, err)
	}
	statusAgainstPlayground(t, bin)
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

// extractBinary reads the layer and returns where it wrote the binary;
// it also checks the files the image cannot work without.
func extractBinary(t *testing.T, img v1.Image, dst string) string {
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
		seen[h.Name] = h
		switch h.Name {
		case binPath:
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
		case "etc/passwd":
			b, _ := io.ReadAll(tr)
			if !strings.Contains(string(b), "nonroot:x:65532:65532:") {
				t.Errorf("etc/passwd has no user 65532:\n%s", b)
			}
		}
	}
	if h := seen["etc/ssl/certs/ca-certificates.crt"]; h == nil || h.Size < 100000 {
		t.Errorf("CA bundle missing or short: %+v", h)
	}
	if h := seen[binPath]; h == nil || h.Mode&0o111 == 0 {
		t.Fatalf("binary missing or not executable: %+v", h)
	}
	return dst
}

// statusAgainstPlayground runs the extracted binary as a user would: a
// one-member playground in the background, status against its endpoint.
// The image's binary is the slim release build, so its playground runs the
// etcd on PATH: the release etcd scripts/build-etcd.sh caches.
func statusAgainstPlayground(t *testing.T, bin string) {
	cache := os.Getenv("ETCDMEDIC_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "etcdmedic")
	}
	etcds, _ := filepath.Glob(filepath.Join(cache, "etcd", "v3.7.*", "bin", "etcd"))
	if len(etcds) == 0 {
		t.Fatalf("no etcd v3.7 release binary under %s: run scripts/build-etcd.sh", cache)
	}
	pg := exec.Command(bin, "playground", "--members", "1", "--base-port", "0")
	pg.Env = append(os.Environ(), "HOME="+t.TempDir(), "PATH="+filepath.Dir(etcds[len(etcds)-1])+string(os.PathListSeparator)+os.Getenv("PATH"))
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
	var ep string
	select {
	case ep = <-endpoints:
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("playground exited before printing its endpoints: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("playground printed no endpoints within 2 minutes")
	}
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
