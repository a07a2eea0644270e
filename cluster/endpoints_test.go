package cluster_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// An endpoint list given but empty — a shell variable that expanded to
// nothing — is a usage error (ErrConfig, exit 64), never a silent fall back
// to the kubeadm manifest or 127.0.0.1:2379, which may be another cluster.
func TestEmptyEndpointsAreAUsageError(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flag  []string // nil: the flag is not given
		env   string
		wants string
	}{
		{name: `--endpoints ""`, flag: []string{""}, wants: "--endpoints is empty"},
		{name: `--endpoints ","`, flag: []string{","}, wants: "--endpoints is empty"},
		{name: `--endpoints " , "`, flag: []string{" , "}, wants: "--endpoints is empty"},
		{name: "--endpoints given as an empty list", flag: []string{}, wants: "--endpoints is empty"},
		{name: "ETCDCTL_ENDPOINTS=,", env: ",", wants: `ETCDCTL_ENDPOINTS="," lists no endpoint`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cluster.Resolve(cluster.Inputs{
				Endpoints: tc.flag,
				Set:       func(f string) bool { return f == "endpoints" && tc.flag != nil },
				Manifest:  t.TempDir() + "/etcd.yaml",
				Getenv:    playgroundtest.Env("ETCDCTL_ENDPOINTS", tc.env),
			})
			if err == nil {
				t.Fatal("resolved; want a usage error")
			}
			if !errors.Is(err, cluster.ErrConfig) || !strings.Contains(err.Error(), tc.wants) {
				t.Fatalf("error %q: want ErrConfig saying %q", err, tc.wants)
			}
		})
	}

	// Not given at all still falls back to the default.
	cfg, err := cluster.Resolve(cluster.Inputs{Manifest: t.TempDir() + "/etcd.yaml", Getenv: playgroundtest.Env()})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Endpoints, ","); got != "http://"+cluster.DefaultEndpoint {
		t.Fatalf("no --endpoints and no manifest: endpoints %q, want the default", got)
	}
}

// An endpoint carrying credentials is refused without echoing them, however
// the password is spelled: no scheme, a '/' or ':' or '@' inside it (which
// no URL parser reads as user info, so a parse error would quote it).
func TestEndpointCredentialsAreNeverEchoed(t *testing.T) {
	for _, ep := range []string{
		"http://root:pw-SECRET@10.0.0.1:2379",
		"root:pw-SECRET@10.0.0.1:2379",
		"https://root:pw/SECRET@10.0.0.1:2379",
		"root:pw/SECRET:x@10.0.0.1:2379",
		"https://root:pw@SECRET@10.0.0.1:2379",
		"root:pw%SECRET@10.0.0.1:2379",
	} {
		_, err := cluster.NormalizeEndpoint(ep, false)
		if err == nil {
			t.Errorf("%s: accepted; want refused", ep)
			continue
		}
		if !errors.Is(err, cluster.ErrConfig) || !strings.Contains(err.Error(), "credentials do not belong") {
			t.Errorf("%s: error %q; want the credentials refusal (exit 64)", ep, err)
		}
		if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: error %q shows the password", ep, err)
		}
		if !strings.Contains(err.Error(), "10.0.0.1:2379") {
			t.Errorf("%s: error %q does not say which endpoint", ep, err)
		}
	}
}
