package cluster

import (
	"strings"
	"time"

	"github.com/etcdmedic/etcdmedic/internal/secret"
)

// ConnectionArgs are the flags that reach this cluster the way this run
// did, for the commands the tool prints as next steps: what came from a flag
// or the environment is repeated, what kubeadm discovery or a default gave is
// not (the printed command finds it the same way). A password never is:
// --user carries the name alone, and ETCDCTL_PASSWORD or the prompt on a
// terminal supplies the rest. A user from the environment is not repeated:
// ETCDCTL_USER may hold name:password, and --user NAME would override it with
// no password at all.
func (c *Config) ConnectionArgs() []string {
	var args []string
	explicit := func(name string) bool {
		src := c.Sources[name]
		return strings.HasPrefix(src, "flag") || strings.HasPrefix(src, "env")
	}
	if explicit("endpoints") && len(c.Endpoints) > 0 {
		eps := make([]string, len(c.Endpoints))
		for i, ep := range c.Endpoints {
			eps[i] = redactURL(ep)
		}
		args = append(args, "--endpoints", strings.Join(eps, ","))
	}
	user, _, _ := strings.Cut(c.User, ":")
	for _, f := range []struct{ name, val string }{{"cacert", c.CACert}, {"cert", c.Cert}, {"key", c.Key}} {
		if f.val != "" && explicit(f.name) {
			args = append(args, "--"+f.name, f.val)
		}
	}
	if user != "" && strings.HasPrefix(c.Sources["user"], "flag") {
		args = append(args, "--user", user)
	}
	if c.InsecureSkipTLSVerify && explicit("insecure-skip-tls-verify") {
		args = append(args, "--insecure-skip-tls-verify")
	}
	for _, f := range []struct {
		name string
		val  time.Duration
	}{{"dial-timeout", c.DialTimeout}, {"command-timeout", c.CommandTimeout}} {
		if explicit(f.name) {
			args = append(args, "--"+f.name, f.val.String())
		}
	}
	// Discovery from another manifest than the default needs the flag again.
	if c.Local != nil && c.Local.Manifest != "" && c.Local.Manifest != DefaultManifest && !explicit("endpoints") {
		args = append(args, "--manifest", c.Local.Manifest)
	}
	return args
}

// ConnectionFlags is ConnectionArgs as one shell-quoted string.
func (c *Config) ConnectionFlags() string { return ShellJoin(c.ConnectionArgs()) }

// redactURL drops a user:password@ part of an endpoint (see
// secret.WithoutUserInfo).
func redactURL(ep string) string { return secret.WithoutUserInfo(ep) }

// ShellJoin quotes each word for a POSIX shell where it needs it, so a
// printed command can be pasted as is.
func ShellJoin(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = shellQuote(w)
	}
	return strings.Join(out, " ")
}

func shellQuote(w string) string {
	if w == "" {
		return "''"
	}
	safe := true
	for _, r := range w {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:,=@%+", r)) {
			safe = false
			break
		}
	}
	if safe {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}
