// Package buildinfo carries the release identity, set at link time by
// goreleaser (-X .../internal/buildinfo.Version=...).
package buildinfo

import "runtime/debug"

var (
	Version = ""
	Commit  = ""
	Date    = ""
)

// Get returns version, commit and date, falling back to what the Go toolchain
// recorded (go install module@version, or a VCS build).
func Get() (version, commit, date string) {
	version, commit, date = Version, Commit, Date
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if commit == "" {
					commit = s.Value
				}
			case "vcs.time":
				if date == "" {
					date = s.Value
				}
			}
		}
	}
	if version == "" {
		version = "dev"
	}
	return version, commit, date
}
