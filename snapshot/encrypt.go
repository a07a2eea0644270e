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

// ErrEncrypted marks an encrypted snapshot that could not be read for want
// of a matching identity: not corrupt, just not checkable here (exit 1).
var ErrEncrypted = fault.New(fault.Partial, "snapshot is encrypted")

// ErrWrongIdentity marks an identity that opens none of the recipients'
// stanzas: the operator's key is wrong or expired, the snapshot fine (exit 3).
var ErrWrongIdentity = fault.New(fault.Indeterminate, "no identity matches the snapshot's recipients")
