package snapshot

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/etcdmedic/etcdmedic/internal/etcdbin"
)

// restoreConfig is what etcdutl's restore takes, the same whichever runs it.
type restoreConfig struct {
	SnapshotPath        string
	Name                string
	OutputDataDir       string
	PeerURLs            []string
	InitialCluster      string
	InitialClusterToken string
	SkipHashCheck       bool
	RevisionBump        uint64
	MarkCompacted       bool
}

// restoreTimeout bounds one etcdutl restore run: it copies the database
// once and writes a WAL and a snapshot file, minutes for the 8 GiB quota on
// a slow disk.
const restoreTimeout = time.Hour

var etcdutlForRestore = etcdbin.Need{Name: "etcdutl", Flag: "--etcdutl-binary", For: "restore"}

// FindRestoreTool returns the etcdutl binary a restore runs: explicit when
// given (an executable file, else a usage error); else "" in the full build,
// which restores with etcdutl's library; else (the release build, -tags
// slim) etcdutl beside this binary or on PATH, or an Invalid fault saying
// what to do.
func FindRestoreTool(explicit string) (string, error) {
	return etcdbin.FindUnlessLinked(etcdutlForRestore, explicit, linkedRestore)
}

// runRestore restores with the etcdutl binary bin, or with the linked
// library when bin is "".
func runRestore(ctx context.Context, bin string, c restoreConfig) error {
	if bin == "" {
		return restoreLinked(c)
	}
	return etcdbin.Run(ctx, restoreTimeout, bin, restoreArgs(c)...)
}

// restoreArgs is `etcdutl snapshot restore` for c (etcdutl v3.5 to v3.7
// take these flags).
func restoreArgs(c restoreConfig) []string {
	args := []string{"snapshot", "restore", c.SnapshotPath,
		"--data-dir", c.OutputDataDir,
		"--name", c.Name,
		"--initial-cluster", c.InitialCluster,
		"--initial-cluster-token", c.InitialClusterToken,
		"--initial-advertise-peer-urls", strings.Join(c.PeerURLs, ","),
	}
	if c.SkipHashCheck {
		args = append(args, "--skip-hash-check")
	}
	if c.RevisionBump > 0 {
		args = append(args, "--bump-revision", strconv.FormatUint(c.RevisionBump, 10))
	}
	if c.MarkCompacted {
		args = append(args, "--mark-compacted")
	}
	return args
}
