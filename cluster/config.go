// Package cluster is the model every capability reads: how to connect (flags,
// ETCDCTL_* environment, kubeadm discovery, TLS, auth), which members exist
// (keyed by member ID), and what each member reports (Status and /metrics,
// gathered in parallel under per-member deadlines).
package cluster

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/etcdmedic/etcdmedic/internal/secret"
)

// Config says how to reach a cluster. Build it with Resolve, which records in
// Sources where every setting came from (shown with -v).
type Config struct {
	Endpoints             []string
	CACert                string
	Cert                  string
	Key                   string
	User                  string
	Password              string
	InsecureSkipTLSVerify bool
	DialTimeout           time.Duration
	CommandTimeout        time.Duration

	// Layout names what discovery matched on this node (kubeadm, rke2, k3s,
	// openshift, manifest for --manifest), or why nothing matched.
	Layout string

	// Local describes the member whose manifest or config was read, if any: its
	// metrics listener is often only on loopback and not on the client URL.
	Local *LocalMember

	Sources map[string]string
}

// LocalMember is what a kubeadm etcd manifest says about the member on this node.
type LocalMember struct {
	Name       string
	ClientURLs []string
	MetricsURL string
	Manifest   string
	// Flags holds every --flag=value of the etcd command line, for checks that
	// read server settings (quota, feature gates) when the API does not expose them.
	Flags map[string]string
}

const (
	DefaultEndpoint       = "127.0.0.1:2379"
	DefaultManifest       = "/etc/kubernetes/manifests/etcd.yaml"
	DefaultDialTimeout    = 2 * time.Second
	DefaultCommandTimeout = 5 * time.Second
)

// Inputs are the raw settings from flags and environment, before precedence.
type Inputs struct {
	// Flag values, and which of them the user set explicitly.
	Endpoints             []string
	CACert, Cert, Key     string
	User, Password        string
	InsecureSkipTLSVerify bool
	DialTimeout           time.Duration
	CommandTimeout        time.Duration
	Manifest              string
	Set                   func(flag string) bool

	// Root puts every path discovery reads under another directory (a node's
	// disk mounted elsewhere, a test's fixture tree); empty means
	// $ETCDMEDIC_ROOT, then "/".
	Root string

	// Getenv reads the environment (os.Getenv in production).
	Getenv func(string) string
}

// ErrConfig marks a configuration the user must fix (exit 64).
var ErrConfig = errors.New("configuration error")

func configErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}

// Resolve applies the precedence flag > ETCDCTL_* env > discovery (--manifest,
// kubeadm, RKE2, k3s, OpenShift) > default.
func Resolve(in Inputs) (*Config, error) {
	getenv := in.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	set := in.Set
	if set == nil {
		set = func(string) bool { return false }
	}
	cfg := &Config{Sources: map[string]string{}}

	str := func(name, flagVal, env string, dst *string) {
		switch {
		case set(name):
			*dst, cfg.Sources[name] = flagVal, "flag --"+name
		case getenv(env) != "":
			*dst, cfg.Sources[name] = getenv(env), "env "+env
		}
	}
	// An empty list given on purpose is a mistake (a variable that expanded
	// to nothing), not a request to discover: that could reach another cluster.
	if set("endpoints") {
		if cfg.Endpoints, cfg.Sources["endpoints"] = splitList(in.Endpoints), "flag --endpoints"; len(cfg.Endpoints) == 0 {
			return nil, configErrorf("--endpoints is empty: give host:port or URLs separated by commas, or leave the flag out to use the kubeadm manifest or %s", DefaultEndpoint)
		}
	} else if v := getenv("ETCDCTL_ENDPOINTS"); v != "" {
		if cfg.Endpoints, cfg.Sources["endpoints"] = splitList([]string{v}), "env ETCDCTL_ENDPOINTS"; len(cfg.Endpoints) == 0 {
			return nil, configErrorf("ETCDCTL_ENDPOINTS=%q lists no endpoint: give host:port or URLs separated by commas, or unset it", v)
		}
	}
	str("cacert", in.CACert, "ETCDCTL_CACERT", &cfg.CACert)
	str("cert", in.Cert, "ETCDCTL_CERT", &cfg.Cert)
	str("key", in.Key, "ETCDCTL_KEY", &cfg.Key)
	str("user", in.User, "ETCDCTL_USER", &cfg.User)
	str("password", in.Password, "ETCDCTL_PASSWORD", &cfg.Password)
	// etcdctl accepts --user name:password; so do we, and the password never
	// travels further than this struct.
	// The name is always cut from the password, so no output that shows the
	// user ever shows a password; a password in --user wins over one from the
	// environment, --password over both.
	if name, pass, ok := strings.Cut(cfg.User, ":"); ok {
		cfg.User = name
		userFlag := strings.HasPrefix(cfg.Sources["user"], "flag")
		if cfg.Password == "" || (userFlag && !strings.HasPrefix(cfg.Sources["password"], "flag")) {
			cfg.Password = pass
			cfg.Sources["password"] = cfg.Sources["user"]
		}
	}

	cfg.InsecureSkipTLSVerify = in.InsecureSkipTLSVerify
	if !set("insecure-skip-tls-verify") {
		if v := getenv("ETCDCTL_INSECURE_SKIP_TLS_VERIFY"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, configErrorf("invalid ETCDCTL_INSECURE_SKIP_TLS_VERIFY=%q: want true or false", v)
			}
			cfg.InsecureSkipTLSVerify = b
		}
	}
	var err error
	if cfg.DialTimeout, err = duration(set, getenv, "dial-timeout", "ETCDCTL_DIAL_TIMEOUT", in.DialTimeout, DefaultDialTimeout, cfg.Sources); err != nil {
		return nil, err
	}
	if cfg.CommandTimeout, err = duration(set, getenv, "command-timeout", "ETCDCTL_COMMAND_TIMEOUT", in.CommandTimeout, DefaultCommandTimeout, cfg.Sources); err != nil {
		return nil, err
	}

	if len(cfg.Endpoints) == 0 {
		root := firstNonEmpty(in.Root, getenv(RootEnv))
		if err := discover(cfg, in, set("manifest"), root); err != nil {
			return nil, err
		}
	}
	if len(cfg.Endpoints) == 0 {
		cfg.Endpoints, cfg.Sources["endpoints"] = []string{DefaultEndpoint}, "default"
	}
	if (cfg.Cert == "") != (cfg.Key == "") {
		return nil, configErrorf("--cert and --key go together: got only %s", map[bool]string{true: "--key", false: "--cert"}[cfg.Cert == ""])
	}
	if cfg.Password != "" && cfg.User == "" {
		return nil, configErrorf("a password was given without --user")
	}
	tls := cfg.CACert != "" || cfg.Cert != "" || cfg.InsecureSkipTLSVerify
	for i, ep := range cfg.Endpoints {
		norm, err := NormalizeEndpoint(ep, tls)
		if err != nil {
			return nil, err
		}
		cfg.Endpoints[i] = norm
	}
	return cfg, nil
}

func duration(set func(string) bool, getenv func(string) string, name, env string, flagVal, def time.Duration, sources map[string]string) (time.Duration, error) {
	v := def
	sources[name] = "default"
	switch {
	case set(name):
		v, sources[name] = flagVal, "flag --"+name
	case getenv(env) != "":
		d, err := time.ParseDuration(getenv(env))
		if err != nil {
			return 0, configErrorf("invalid %s=%q: want a duration like 5s", env, getenv(env))
		}
		v, sources[name] = d, "env "+env
	}
	if v <= 0 {
		return 0, configErrorf("--%s must be positive, got %s", name, v)
	}
	return v, nil
}

func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// NormalizeEndpoint turns "host:port" or a URL into a URL with a scheme, and
// rejects anything etcd's client would choke on later with a worse message.
func NormalizeEndpoint(ep string, tls bool) (string, error) {
	// Messages show the endpoint without any user:password@ it may carry.
	raw := redactURL(ep)
	if secret.HasUserInfo(ep) {
		// Checked before parsing: a parse error would quote the credentials.
		return "", configErrorf("invalid endpoint %q: credentials do not belong in an endpoint URL (it is printed and logged); use --user NAME and ETCDCTL_PASSWORD", raw)
	}
	if !strings.Contains(ep, "://") {
		scheme := "http"
		if tls {
			scheme = "https"
		}
		ep = scheme + "://" + ep
	}
	u, err := url.Parse(ep)
	if err != nil {
		return "", configErrorf("invalid endpoint %q: %v", raw, unwrapURLError(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "unix" && u.Scheme != "unixs" {
		return "", configErrorf("invalid endpoint %q: scheme must be http or https", raw)
	}
	if u.Scheme == "http" || u.Scheme == "https" {
		host, port, err := net.SplitHostPort(u.Host)
		if err != nil || host == "" {
			return "", configErrorf("invalid endpoint %q: want host:port, e.g. https://10.0.0.11:2379", raw)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", configErrorf("invalid endpoint %q: port %q is not a number from 1 to 65535", raw, port)
		}
		if u.Path != "" && u.Path != "/" {
			return "", configErrorf("invalid endpoint %q: an endpoint has no path", raw)
		}
		u.Path = ""
	}
	return u.String(), nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// UsesTLS reports whether connections need TLS.
func (c *Config) UsesTLS() bool {
	if c.CACert != "" || c.Cert != "" || c.InsecureSkipTLSVerify {
		return true
	}
	for _, ep := range c.Endpoints {
		if strings.HasPrefix(ep, "https://") || strings.HasPrefix(ep, "unixs://") {
			return true
		}
	}
	return false
}

// Describe lists where every setting came from, for -v. Secrets are never shown.
func (c *Config) Describe() []string {
	show := func(name, val string) string {
		src := c.Sources[name]
		if src == "" {
			src = "unset"
		}
		return fmt.Sprintf("%s=%s (%s)", name, val, src)
	}
	lines := []string{
		show("endpoints", strings.Join(c.Endpoints, ",")),
		show("cacert", c.CACert),
		show("cert", c.Cert),
		show("key", c.Key),
		show("user", c.User),
	}
	if c.Password != "" {
		lines = append(lines, show("password", "<redacted>"))
	}
	lines = append(lines, show("dial-timeout", c.DialTimeout.String()), show("command-timeout", c.CommandTimeout.String()))
	if l := describeLayout(c); l != "" {
		lines = append(lines, l)
	}
	if c.Local != nil && c.Local.MetricsURL != "" {
		lines = append(lines, fmt.Sprintf("metrics-url=%s (%s)", c.Local.MetricsURL, c.Sources["endpoints"]))
	}
	return lines
}
