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
			ID     string `json:"id"`
			Binary string `json:"binary"`
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
	// The image takes every build: etcdmedic, etcd and etcdutl.
	var ids []string
	for _, b := range cfg.Builds {
		ids = append(ids, b.ID)
	}
	if len(ids) == 0 || !slices.Equal(d.IDs, ids) {
		t.Errorf("ids %v do not name the builds %v", d.IDs, ids)
	}
	if !slices.Contains(d.Images, "ghcr.io/etcdmedic/etcdmedic") {
		t.Errorf("images %v: the docs and the chart pull ghcr.io/etcdmedic/etcdmedic", d.Images)
	}
	for _, k := range []string{"org.opencontainers.image.version", "org.opencontainers.image.source", "org.opencontainers.image.revision"} {
		if d.Labels[k] == "" {
			t.Errorf("label %s missing", k)
		}
	}
	if got, want := d.Labels[etcdVersionLabel], pinnedEtcd(t); got != want {
		t.Errorf("label %s = %q, want go.mod's etcd %s (the image build labels it so)", etcdVersionLabel, got, want)
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
	want := []string{
		"FROM scratch",
		`USER 65532:65532`,
		`ENTRYPOINT ["etcdmedic"]`,
		"COPY dist-docs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt",
		"ENV PATH=/" + binDir + " SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt HOME=/home/nonroot",
	}
	for _, b := range imageBinaries {
		want = append(want, "COPY $TARGETPLATFORM/"+b.name+" /"+binDir+"/"+b.name)
	}
	for _, want := range want {
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

// The image carries the release binaries: goreleaser builds each of
// imageBinaries as build() does (package, tags, static, -trimpath, -s -w,
// both image platforms) and puts every one in the archives too.
func TestGoreleaserBuildsMatchImage(t *testing.T) {
	raw, err := os.ReadFile("../../goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type build struct {
		ID          string   `json:"id"`
		Main        string   `json:"main"`
		Binary      string   `json:"binary"`
		NoMainCheck bool     `json:"no_main_check"`
		Env         []string `json:"env"`
		Goos        []string `json:"goos"`
		Goarch      []string `json:"goarch"`
		Flags       []string `json:"flags"`
		Tags        []string `json:"tags"`
		Ldflags     []string `json:"ldflags"`
	}
	var cfg struct {
		Builds   []build `json:"builds"`
		Archives []struct {
			IDs []string `json:"ids"`
		} `json:"archives"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Builds) != len(imageBinaries) {
		t.Fatalf("goreleaser.yaml has %d builds, the image %d binaries %v", len(cfg.Builds), len(imageBinaries), imageBinaries)
	}
	for i, want := range imageBinaries {
		b := cfg.Builds[i]
		if b.Binary != want.name || b.Main != want.pkg {
			t.Errorf("build %d is %s from %s, the image's is %s from %s", i, b.Binary, b.Main, want.name, want.pkg)
			continue
		}
		if got := strings.Join(b.Tags, ","); got != want.tags {
			t.Errorf("%s: goreleaser builds with tags %q, the image with %q", b.Binary, got, want.tags)
		}
		if !slices.Contains(b.Env, "CGO_ENABLED=0") || !slices.Equal(b.Flags, []string{"-trimpath"}) || len(b.Ldflags) == 0 || b.Ldflags[0] != "-s -w" {
			t.Errorf("%s: env %v flags %v ldflags %v, want CGO_ENABLED=0, -trimpath, -s -w as the image build", b.Binary, b.Env, b.Flags, b.Ldflags)
		}
		if !slices.Contains(b.Goos, "linux") || !slices.Equal(b.Goarch, []string{"amd64", "arm64"}) {
			t.Errorf("%s: goos %v goarch %v miss an image platform", b.Binary, b.Goos, b.Goarch)
		}
		// goreleaser looks for func main in main as a directory; a package
		// path of another module is no directory here.
		if !strings.HasPrefix(b.Main, "./") && !b.NoMainCheck {
			t.Errorf("%s: main %s is a package path, which needs no_main_check: true", b.Binary, b.Main)
		}
		for _, a := range cfg.Archives {
			if !slices.Contains(a.IDs, b.ID) {
				t.Errorf("archive %v leaves out build %s", a.IDs, b.ID)
			}
		}
	}
	if len(cfg.Archives) == 0 {
		t.Error("no archives")
	}
}
