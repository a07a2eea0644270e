package secret

import "strings"

// WithoutUserInfo drops a user[:password]@ from a URL or a scheme-less
// host:port: everything after the scheme up to the last @, not just what a
// URL parser would read as user info, because a password may hold a '/', a
// ':' or an '@' of its own. An endpoint or a bucket URL has no other use for
// an @. A file:// URL has no user info (a directory may have an @ in its
// name) and is returned as it is.
func WithoutUserInfo(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if ok && scheme == "file" {
		return raw
	}
	at := strings.LastIndex(rest, "@")
	if !ok {
		at = strings.LastIndex(raw, "@")
		rest = raw
	}
	if at < 0 {
		return raw
	}
	if !ok {
		return rest[at+1:]
	}
	return scheme + "://" + rest[at+1:]
}

// HasUserInfo says whether WithoutUserInfo would drop anything.
func HasUserInfo(raw string) bool { return WithoutUserInfo(raw) != raw }
