package cluster

import (
	"strconv"
	"strings"
)

// StopGRPCServiceOnDefrag says whether the member's command line turns on
// StopGRPCServiceOnDefrag (etcd 3.6+, off by default): a defragmenting
// member then answers NOT_SERVING on its gRPC health service. Only the
// manifest says so before a defragmentation; the API does not expose
// feature gates.
func (l *LocalMember) StopGRPCServiceOnDefrag() bool {
	return featureGateOn(l.Flags["feature-gates"], "StopGRPCServiceOnDefrag") ||
		l.Flags["experimental-stop-grpc-service-on-defrag"] == "true"
}

// featureGateOn reads one gate from a --feature-gates list ("A=true,B=false").
func featureGateOn(gates, name string) bool {
	for _, g := range strings.Split(gates, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(g), "=")
		if k == name {
			on, err := strconv.ParseBool(v)
			return err == nil && on
		}
	}
	return false
}
