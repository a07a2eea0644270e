// Package version implements `etcdmedic version`.
package version

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
	etcdversion "go.etcd.io/etcd/api/v3/version"

	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/buildinfo"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

// Info is the JSON contract of `etcdmedic version -o json`.
type Info struct {
	Version     string `json:"version"`
	Commit      string `json:"commit"`
	Date        string `json:"date"`
	EtcdVersion string `json:"etcdClientVersion"`
	GoVersion   string `json:"goVersion"`
	Platform    string `json:"platform"`
}

func Get() Info {
	v, c, d := buildinfo.Get()
	return Info{Version: v, Commit: c, Date: d, EtcdVersion: etcdversion.Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
}

func NewCmdVersion(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the etcdmedic version, commit, linked etcd client version and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := Get()
			if f.Format().Machine() {
				return output.Write(f.IOStreams.Out, f.Format(), info)
			}
			commit := info.Commit
			if commit == "" {
				commit = "unknown"
			}
			_, err := fmt.Fprintf(f.IOStreams.Out, "etcdmedic %s\n  commit:      %s\n  built:       %s\n  etcd client: %s\n  go:          %s %s\n",
				info.Version, commit, info.Date, info.EtcdVersion, info.GoVersion, info.Platform)
			return err
		},
	}
}
