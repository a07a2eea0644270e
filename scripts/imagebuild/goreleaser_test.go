package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// goreleaser's dockers_v2 builds the release image with buildx from
// deploy/image/Dockerfile; this keeps it the image build() makes: same
// platforms, files, user, entrypoint and labels, and every file the
// Dockerfile copies is in the build context.
func TestGoreleaserImageMatchesRecipe(t *testing.T) {
	raw, err := os.ReadFile("../../goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Before struct {
			Hooks []string `json:"hooks"`
		} `json:"before"`
		Builds []struct {
			ID string `json:"id"`
		} `json:"builds"`
		Dockers []struct {
			IDs        []string          `json:"ids"`
			Dockerfile string            `json:"dockerfile"`
			Images     []string          `json:"images"`
			Tags       []string          `json:"tags"`
			Platforms  []string          `json:"platforms"`
			ExtraFiles []string          `json:"extra_files"`
			Labels     map[string]string `json:"labels"`
			SBOM       bool              `json:"sbom"`
		} `json:"dockers_v2"`
	}
	if err := yaml.UnmarshalStrict(raw, &cfg); err != nil {
		// Other sections have fields this struct does not list.
		if err := yaml.Unmarshal(raw, &cfg); err != nil {
			t.Fatal(err)
		}
	}
	if len(cfg.Dockers) != 1 {
		t.Fatalf("want one dockers_v2 entry, got %d", len(cfg.Dockers))
	}
	d := cfg.Dockers[0]
	if !slices.Equal(d.Platforms, []string{"linux/amd64", "linux/arm64"}) || !d.SBOM {
		t.Errorf("platforms %v sbom %v", d.Platforms, d.SBOM)
	}
	if len(cfg.Builds) == 0 || !slices.Equal(d.IDs, []string{cfg.Builds[0].ID}) {
		t.Errorf("ids %v do not name the build %+v", d.IDs, cfg.Builds)
	}
	if !slices.Contains(d.Images, "ghcr.io/etcdmedic/etcdmedic") {
		t.Errorf("images %v: the docs and the chart pull ghcr.io/etcdmedic/etcdmedic", d.Images)
	}
	for _, k := range []string{"org.opencontainers.image.version", "org.opencontainers.image.source", "org.opencontainers.image.revision"} {
		if d.Labels[k] == "" {
			t.Errorf("label %s missing", k)
		}
	}

	df, err := os.ReadFile(filepath.Join("../..", d.Dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(df), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	for _, want := range []string{
		"FROM scratch",
		"COPY $TARGETPLATFORM/etcdmedic /" + binPath,
		`USER 65532:65532`,
		`ENTRYPOINT ["etcdmedic"]`,
		"COPY dist-docs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if f[0] != "COPY" {
			continue
		}
		for _, src := range f[1 : len(f)-1] {
			if strings.HasPrefix(src, "$TARGETPLATFORM/") {
				continue
			}
			if !slices.Contains(d.ExtraFiles, src) {
				t.Errorf("Dockerfile copies %s, which extra_files does not put in the context", src)
			}
			made := slices.ContainsFunc(cfg.Before.Hooks, func(h string) bool { return strings.HasSuffix(h, "./"+src) })
			if _, err := os.Stat(filepath.Join("../..", src)); err != nil && !made {
				t.Errorf("%s is neither in the repository nor made by a before hook", src)
			}
		}
	}
	for path, want := range map[string]string{"deploy/image/passwd": passwd, "deploy/image/group": group} {
		if b, err := os.ReadFile(filepath.Join("../..", path)); err != nil || string(b) != want {
			t.Errorf("%s differs from the image build's: %q (%v)", path, b, err)
		}
	}
}

// The image carries the release binary: the same build tags as the
// release archives.
func TestGoreleaserBuildTags(t *testing.T) {
	raw, err := os.ReadFile("../../goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Builds []struct {
			Tags []string `json:"tags"`
		} `json:"builds"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Builds) != 1 || strings.Join(cfg.Builds[0].Tags, ",") != releaseTags {
		t.Fatalf("goreleaser.yaml builds' tags %+v, the image builds with -tags %s", cfg.Builds, releaseTags)
	}
}
