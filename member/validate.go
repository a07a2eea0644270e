package member

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// ValidateNew checks a new member's name and peer URLs on their own, before
// anything connects: the name goes into --initial-cluster (name=url,...), so
// it cannot hold '=' or ','; a peer URL is http(s)://host:port and nothing
// more, as etcd accepts it.
func ValidateNew(name string, peerURLs []string) error {
	switch {
	case name == "":
		return fault.New(fault.Invalid, "the new member needs a name")
	case strings.ContainsAny(name, "=, \t\n"):
		return fault.New(fault.Invalid, fmt.Sprintf("member name %q: no '=', ',' or spaces (it goes into --initial-cluster as name=url)", name))
	case len(peerURLs) == 0:
		return fault.New(fault.Invalid, "--peer-urls is required: where the new member listens for its peers, e.g. https://10.0.0.4:2380")
	}
	seen := map[string]bool{}
	for _, raw := range peerURLs {
		if err := validPeerURL(raw); err != nil {
			return err
		}
		if seen[raw] {
			return fault.New(fault.Invalid, fmt.Sprintf("peer URL %s given twice", raw))
		}
		seen[raw] = true
	}
	return nil
}

func validPeerURL(raw string) error {
	u, err := url.Parse(raw)
	bad := func(why string) error {
		return fault.New(fault.Invalid, fmt.Sprintf("peer URL %q: %s (want http(s)://host:port)", raw, why))
	}
	switch {
	case err != nil:
		return bad("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("scheme must be http or https")
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return bad("only scheme, host and port")
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" || port == "" {
		return bad("needs a host and a port")
	}
	return nil
}

// CheckNew checks a new member against the member list: a name another
// member has, or a peer URL another member listens on, would make a member
// etcd either refuses or cannot tell apart.
func CheckNew(ms *cluster.Membership, name string, peerURLs []string) error {
	for _, m := range ms.Members {
		if m.Name == name {
			return fault.New(fault.Invalid, fmt.Sprintf("member name %q is taken by member %s", name, m.IDString()))
		}
		for _, p := range m.PeerURLs {
			for _, q := range peerURLs {
				if sameURL(p, q) {
					return fault.New(fault.Invalid, fmt.Sprintf("peer URL %s is already used by member %s", q, m.Label()))
				}
			}
		}
	}
	return nil
}

func sameURL(a, b string) bool {
	ua, erra := url.Parse(a)
	ub, errb := url.Parse(b)
	if erra != nil || errb != nil {
		return a == b
	}
	return strings.EqualFold(ua.Host, ub.Host)
}
