package member

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// ManifestDiff is what to change in a copy of this node's kubeadm etcd
// manifest for the new member's node: the four join flags, and this node's
// address in every other URL (listen, advertise, the kubeadm annotation)
// replaced by the new member's host. Lines start "-" (as now) and "+" (for
// the new node), each pair under "@@ line N @@".
func ManifestDiff(path string, s StartFlags, peerURLs []string) (string, error) {
	local, err := cluster.ReadEtcdManifest(path)
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	oldHost, newHost := hostOf(local.Flags["initial-advertise-peer-urls"]), hostOf(firstOf(peerURLs))
	join := map[string]string{"name": s.Name, "initial-cluster": s.InitialCluster, "initial-cluster-state": s.InitialClusterState,
		"initial-advertise-peer-urls": s.InitialAdvertisePeerURLs}
	lines := strings.Split(string(data), "\n")
	var b strings.Builder
	fmt.Fprintf(&b, "--- %s\n+++ %s (for member %s)\n", path, path, s.Name)
	for i, line := range lines {
		repl := line
		if flag, _, ok := flagOn(line); ok {
			if v, isJoin := join[flag]; isJoin {
				prefix := line[:strings.Index(line, "--"+flag+"=")]
				repl = prefix + "--" + flag + "=" + v
			} else if oldHost != "" && newHost != "" {
				repl = strings.ReplaceAll(line, oldHost, newHost)
			}
		} else if oldHost != "" && newHost != "" && strings.Contains(line, "etcd.advertise-client-urls") {
			repl = strings.ReplaceAll(line, oldHost, newHost)
		}
		if repl != line {
			fmt.Fprintf(&b, "@@ line %d @@\n-%s\n+%s\n", i+1, line, repl)
		}
		if flag, _, ok := flagOn(line); ok && flag == "initial-cluster" && !hasStateIn(lines) {
			prefix := line[:strings.Index(line, "--")]
			fmt.Fprintf(&b, "@@ after line %d @@\n+%s--initial-cluster-state=%s\n", i+1, prefix, s.InitialClusterState)
		}
	}
	return b.String(), nil
}

// flagOn finds "- --flag=value" on a manifest line.
func flagOn(line string) (flag, value string, ok bool) {
	t := strings.TrimSpace(line)
	t = strings.TrimPrefix(t, "- ")
	if !strings.HasPrefix(t, "--") {
		return "", "", false
	}
	flag, value, ok = strings.Cut(strings.TrimPrefix(t, "--"), "=")
	return flag, value, ok
}

func hasStateIn(lines []string) bool {
	for _, l := range lines {
		if f, _, ok := flagOn(l); ok && f == "initial-cluster-state" {
			return true
		}
	}
	return false
}

func hostOf(raw string) string {
	u, err := url.Parse(firstOf(strings.Split(raw, ",")))
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func firstOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
