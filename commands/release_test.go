package commands_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The release config's ldflags must point at the variables `version` prints:
// build with exactly those flags (templates filled in) and read them back.
func TestGoreleaserLdflagsReachVersion(t *testing.T) {
	raw, err := os.ReadFile("../goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Version int `json:"version"`
		Builds  []struct {
			Main    string   `json:"main"`
			Goos    []string `json:"goos"`
			Goarch  []string `json:"goarch"`
			Ldflags []string `json:"ldflags"`
		} `json:"builds"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Version != 2 || len(cfg.Builds) != 1 {
		t.Fatalf("goreleaser.yaml: version %d, %d builds", cfg.Version, len(cfg.Builds))
	}
	b := cfg.Builds[0]
	if strings.Join(b.Goos, ",") != "linux,darwin" || strings.Join(b.Goarch, ",") != "amd64,arm64" {
		t.Fatalf("targets %v/%v", b.Goos, b.Goarch)
	}
	ldflags := strings.NewReplacer("{{.Version}}", "9.8.7", "{{.Commit}}", "abc1234", "{{.CommitDate}}", "2026-11-22T00:00:00Z").Replace(strings.Join(b.Ldflags, " "))
	bin := filepath.Join(t.TempDir(), "etcdmedic")
	cmd := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, "."+string(filepath.Separator)+filepath.Join("..", b.Main))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build with the release ldflags: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]string
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	if info["version"] != "9.8.7" || info["commit"] != "abc1234" || info["date"] != "2026-11-22T00:00:00Z" {
		t.Fatalf("version info %v: the ldflags do not reach internal/buildinfo", info)
	}
}
