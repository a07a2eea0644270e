package snapshot

import (
	"fmt"
	"os"
	"strings"

	"filippo.io/age"

	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// ParseRecipients parses age X25519 recipients (age1...). Only X25519: the
// hybrid post-quantum kind cannot be mixed with it, and one kind keeps what
// the metadata records simple to act on.
func ParseRecipients(ss []string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, s := range ss {
		if isSecretKey(s) {
			// The private key by mistake: say so without echoing it.
			return nil, fault.Mark(fmt.Errorf("--encrypt-to takes the public recipient (age1...), and was given a secret key (not shown): give the output of 'age-keygen -y KEYFILE', and keep the key itself off the command line"), fault.Invalid)
		}
		r, err := age.ParseX25519Recipient(strings.TrimSpace(s))
		if err != nil {
			return nil, fault.Mark(fmt.Errorf("--encrypt-to %q: not an age X25519 recipient (age1...): %v", s, err), fault.Invalid)
		}
		out = append(out, r)
	}
	return out, nil
}

// ReadIdentities reads an age identity file (AGE-SECRET-KEY-1..., one a
// line, # comments). Its content is never printed, not even in errors.
func ReadIdentities(path string) ([]age.Identity, error) {
	if path == "" {
		return nil, nil
	}
	if isSecretKey(path) {
		return nil, fault.Mark(fmt.Errorf("--identity takes the path of a file holding the key, and was given a key (not shown)"), fault.Invalid)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fault.Mark(fmt.Errorf("--identity: %w", err), fault.Invalid)
	}
	defer f.Close()
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return nil, fault.Mark(fmt.Errorf("--identity %s: no age identity could be read from it", path), fault.Invalid)
	}
	return ids, nil
}

// isSecretKey says whether a flag's value is an age secret key itself, which
// must never be echoed in an error.
func isSecretKey(s string) bool {
	return strings.HasPrefix(strings.ToUpper(strings.TrimSpace(s)), "AGE-SECRET-KEY-")
}

// ErrEncrypted marks an encrypted snapshot that could not be read for want
// of a matching identity: not corrupt, just not checkable here (exit 1).
var ErrEncrypted = fault.New(fault.Partial, "snapshot is encrypted")

// ErrWrongIdentity marks an identity that opens none of the recipients'
// stanzas: the operator's key is wrong or expired, the snapshot fine (exit 3).
var ErrWrongIdentity = fault.New(fault.Indeterminate, "no identity matches the snapshot's recipients")
