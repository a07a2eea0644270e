package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The release build of etcdmedic (-tags slim) has no etcd inside: its
// playground and snapshot drill run etcd's own etcd, and its snapshot
// restore, the drill's restore and breakglass defrag-offline etcd's own
// etcdutl, each found beside etcdmedic (os.Executable's directory) or on
// PATH. So the image carries both, in etcdmedic's directory, which is also
// the image's PATH.
const (
	etcdModule    = "go.etcd.io/etcd/server/v3"  // its root package is etcd's main
	etcdutlModule = "go.etcd.io/etcd/etcdutl/v3" // likewise etcdutl's
)

// binary is one executable of the image and of the release archives, built
// as goreleaser.yaml's build of the same name builds it (goreleaser_test.go
// holds the two to one recipe).
type binary struct {
	name, pkg, tags string
}

// imageBinaries: etcdmedic first (built every time, stamped with the
// version); the rest are etcd's, the same bytes for every etcdmedic build
// of one go.mod, so built once and cached.
var imageBinaries = []binary{
	{"etcdmedic", "./cmd/etcdmedic", releaseTags},
	{"etcd", etcdModule, ""},
	{"etcdutl", etcdutlModule, ""},
}

func cacheDir() string {
	if d := os.Getenv("ETCDMEDIC_CACHE"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "etcdmedic")
}

// etcdVersion is the etcd release go.mod pins, as the go command resolves
// it (replace directives included): the version the image's etcd and
// etcdutl are built at and that its label names. The two modules must
// agree, or the image would mix releases.
func etcdVersion(repoRoot string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Path}} {{.Version}}{{with .Replace}} {{.Version}}{{end}}", etcdModule, etcdutlModule)
	cmd.Dir = repoRoot
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s %s: %w", etcdModule, etcdutlModule, err)
	}
	vers := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 {
			vers[f[0]] = f[len(f)-1]
		}
	}
	v := vers[etcdModule]
	if v == "" || v != vers[etcdutlModule] {
		return "", fmt.Errorf("go.mod resolves %s to %q and %s to %q: the image needs one etcd release", etcdModule, v, etcdutlModule, vers[etcdutlModule])
	}
	return v, nil
}

// etcdBinaries returns the directory holding etcd and etcdutl built for one
// platform, building them on the first call. They are built in the main
// module (so at go.mod's pin, with the dependency versions every other
// etcdmedic build uses) with the release flags, and cached under
// <cache>/etcd-image/<version>/<os>-<arch>/<inputs>/, where inputs is a
// digest of what else decides their bytes (the Go toolchain, go.mod and
// go.sum): CI pays for the build once, and a cached copy never outlives
// a change of toolchain or dependencies.
func etcdBinaries(repoRoot, version, osName, arch string) (string, error) {
	key, err := buildInputs(repoRoot)
	if err != nil {
		return "", err
	}
	plat := filepath.Join(cacheDir(), "etcd-image", version, osName+"-"+arch)
	dir := filepath.Join(plat, key)
	if haveAll(dir) {
		return dir, nil
	}
	if err := os.MkdirAll(plat, 0o755); err != nil {
		return "", fmt.Errorf("etcd binaries cache: %w", err)
	}
	// Built aside and renamed into place whole, so a run that dies midway
	// (or one running alongside) never sees half a directory.
	stage, err := os.MkdirTemp(plat, ".partial-")
	if err != nil {
		return "", fmt.Errorf("etcd binaries cache: %w", err)
	}
	defer os.RemoveAll(stage)
	for _, b := range imageBinaries[1:] {
		fmt.Fprintf(os.Stderr, "imagebuild: go build %s@%s for %s/%s (cached in %s)\n", b.pkg, version, osName, arch, dir)
		if err := goBuildPkg(repoRoot, osName, arch, b, "-s -w", filepath.Join(stage, b.name)); err != nil {
			return "", err
		}
	}
	if err := os.Chmod(stage, 0o755); err != nil { // MkdirTemp made it 0700
		return "", fmt.Errorf("etcd binaries cache: %w", err)
	}
	if err := os.Rename(stage, dir); err != nil {
		if haveAll(dir) { // another run got there first: theirs is the same build
			return dir, nil
		}
		return "", fmt.Errorf("etcd binaries cache: %w", err)
	}
	// Builds for an older toolchain or go.mod are never used again.
	if old, err := filepath.Glob(filepath.Join(plat, "*")); err == nil {
		for _, o := range old {
			if o != dir && !strings.HasPrefix(filepath.Base(o), ".partial-") {
				os.RemoveAll(o)
			}
		}
	}
	return dir, nil
}

func haveAll(dir string) bool {
	for _, b := range imageBinaries[1:] {
		if fi, err := os.Stat(filepath.Join(dir, b.name)); err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// buildInputs digests the Go toolchain's version and the main module's
// go.mod and go.sum.
func buildInputs(repoRoot string) (string, error) {
	cmd := exec.Command("go", "env", "GOVERSION")
	cmd.Dir = repoRoot // go.mod's toolchain line may choose another Go
	gover, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %w", err)
	}
	h := sha256.New()
	h.Write(bytes.TrimSpace(gover))
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil && !(f == "go.sum" && errors.Is(err, os.ErrNotExist)) {
			return "", err
		}
		h.Write([]byte{0})
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
