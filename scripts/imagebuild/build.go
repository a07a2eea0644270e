package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type options struct {
	repoRoot, out                string
	version, commit, source, tag string
	caFile                       string
	platforms                    []string
	created                      time.Time
}

type result struct {
	layout, archive string
	dockerTars      map[string]string
	indexDigest     v1.Hash
}

// The user distroless images use: a fixed non-root ID that a pod's
// runAsNonRoot can verify without a passwd lookup.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group  = "root:x:0:\nnonroot:x:65532:\n"
	uid    = 65532
	binDir = "usr/local/bin"
)

func build(o options) (*result, error) {
	if err := os.RemoveAll(o.out); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(o.caFile)
	if err != nil {
		return nil, fmt.Errorf("CA certificates (install Debian's ca-certificates): %w", err)
	}
	etcdVer, err := etcdVersion(o.repoRoot)
	if err != nil {
		return nil, err
	}
	res := &result{layout: filepath.Join(o.out, "oci"), archive: filepath.Join(o.out, "etcdmedic-oci.tar"), dockerTars: map[string]string{}}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range o.platforms {
		osName, arch, ok := strings.Cut(p, "/")
		if !ok {
			return nil, fmt.Errorf("platform %q: want os/arch", p)
		}
		bins := filepath.Join(o.out, "bin", osName+"-"+arch)
		if err := goBuild(o, osName, arch, filepath.Join(bins, "etcdmedic")); err != nil {
			return nil, err
		}
		etcdDir, err := etcdBinaries(o.repoRoot, etcdVer, osName, arch)
		if err != nil {
			return nil, err
		}
		for _, b := range imageBinaries[1:] {
			if err := copyFile(filepath.Join(etcdDir, b.name), filepath.Join(bins, b.name)); err != nil {
				return nil, err
			}
		}
		img, err := image(o, osName, arch, bins, etcdVer, ca)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		// The index does not read the platform from the config: say it.
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: osName, Architecture: arch}},
		})
		tag, err := name.NewTag(o.tag + ":" + o.version + "-" + arch)
		if err != nil {
			return nil, err
		}
		res.dockerTars[p] = filepath.Join(o.out, "etcdmedic-"+osName+"-"+arch+".docker.tar")
		if err := tarball.WriteToFile(res.dockerTars[p], tag, img); err != nil {
			return nil, err
		}
	}
	if _, err := layout.Write(res.layout, idx); err != nil {
		return nil, err
	}
	if res.indexDigest, err = idx.Digest(); err != nil {
		return nil, err
	}
	if err := tarDir(res.layout, res.archive, o.created); err != nil {
		return nil, err
	}
	return res, nil
}

// releaseTags are goreleaser.yaml's build tags (TestGoreleaserBuildTags
// keeps them one list): the slim release binary.
const releaseTags = "slim,grpcnotrace"

// goBuild builds the etcdmedic binary the release builds (goreleaser.yaml's
// flags, tags and ldflags), for one platform.
func goBuild(o options, osName, arch, out string) error {
	pkg := "github.com/etcdmedic/etcdmedic/internal/buildinfo"
	ldflags := fmt.Sprintf("-s -w -X %s.Version=%s -X %s.Commit=%s -X %s.Date=%s",
		pkg, o.version, pkg, o.commit, pkg, o.created.Format(time.RFC3339))
	return goBuildPkg(o.repoRoot, osName, arch, imageBinaries[0], ldflags, out)
}

// goBuildPkg builds one of imageBinaries in the main module: static
// (CGO_ENABLED=0) and -trimpath, so the same inputs give the same bytes.
func goBuildPkg(repoRoot, osName, arch string, b binary, ldflags, out string) error {
	args := []string{"build", "-trimpath"}
	if b.tags != "" {
		args = append(args, "-tags", b.tags)
	}
	args = append(args, "-ldflags", ldflags, "-o", out, b.pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+osName, "GOARCH="+arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s for %s/%s: %w", b.pkg, osName, arch, err)
	}
	return nil
}

func image(o options, osName, arch, bins, etcdVer string, ca []byte) (v1.Image, error) {
	layerTar, err := rootfs(bins, ca, o.created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	// empty.Image is Docker schema 2; the index and registries want OCI
	// throughout.
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = osName, arch
	cf.Config.Entrypoint = []string{"etcdmedic"}
	cf.Config.User = fmt.Sprintf("%d:%d", uid, uid)
	cf.Config.WorkingDir = "/home/nonroot"
	cf.Config.Env = []string{"PATH=/usr/local/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "HOME=/home/nonroot"}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":       "etcdmedic",
		"org.opencontainers.image.description": "etcd health and maintenance for Kubernetes control planes",
		"org.opencontainers.image.version":     o.version,
		"org.opencontainers.image.source":      o.source,
		"org.opencontainers.image.revision":    o.commit,
		"org.opencontainers.image.created":     o.created.Format(time.RFC3339),
		etcdVersionLabel:                       etcdVer,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return mutate.CreatedAt(img, v1.Time{Time: o.created})
}

// etcdVersionLabel names the etcd release whose etcd and etcdutl the image
// carries (goreleaser.yaml's image labels say the same).
const etcdVersionLabel = "io.github.etcdmedic.etcd.version"

// rootfs is the whole filesystem: the binaries, the CA bundle, a passwd and
// group naming the non-root user, and writable-by-owner home and /tmp (the
// chart mounts emptyDirs there under a read-only root filesystem).
func rootfs(bins string, ca []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(p string, mode int64, owner int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: mode, Uid: owner, Gid: owner, ModTime: mtime, Format: tar.FormatPAX})
	}
	file := func(p string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: mode, Size: int64(len(data)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	steps := []func() error{
		func() error { return dir("etc", 0o755, 0) },
		func() error { return dir("etc/ssl", 0o755, 0) },
		func() error { return dir("etc/ssl/certs", 0o755, 0) },
		func() error { return file("etc/ssl/certs/ca-certificates.crt", 0o644, ca) },
		func() error { return file("etc/passwd", 0o644, []byte(passwd)) },
		func() error { return file("etc/group", 0o644, []byte(group)) },
		func() error { return dir("home", 0o755, 0) },
		func() error { return dir("home/nonroot", 0o700, uid) },
		func() error { return dir("tmp", 0o1777, 0) },
		func() error { return dir("usr", 0o755, 0) },
		func() error { return dir("usr/local", 0o755, 0) },
		func() error { return dir("usr/local/bin", 0o755, 0) },
	}
	for _, b := range imageBinaries {
		steps = append(steps, func() error {
			exe, err := os.ReadFile(filepath.Join(bins, b.name))
			if err != nil {
				return err
			}
			return file(binDir+"/"+b.name, 0o755, exe)
		})
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// copyFile copies an executable, replacing dst.
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// tarDir writes an OCI archive: the layout directory as one tar, which
// `skopeo copy --all oci-archive:` reads (podman 4.3's load refuses an
// archive of more than one image; it loads a platform's docker tarball).
func tarDir(dir, out string, mtime time.Time) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name, h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname = filepath.ToSlash(rel), mtime, 0, 0, "", ""
		if info.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Sync()
}
