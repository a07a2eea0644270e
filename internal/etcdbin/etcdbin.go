// Package etcdbin finds and runs etcd's own binaries (etcd, etcdutl) for the
// work a build without etcd's server packages (-tags slim, the release
// binary) does not link: playground members, snapshot restore, offline
// defrag. The release archive and image ship them beside etcdmedic.
package etcdbin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// Need says who looks for a binary, for the message when there is none.
type Need struct {
	// Name is the binary: "etcd" or "etcdutl".
	Name string
	// Flag names the flag that gives it, e.g. "--etcdutl-binary".
	Flag string
	// For is what it runs, e.g. "restore" or "playground members".
	For string
}

// Find returns the binary to run: explicit when given (an executable file,
// else a usage error), else the file of that name in the directory of this
// executable, else the one on PATH. None: Invalid, one line saying what to do.
func Find(n Need, explicit string) (string, error) {
	if explicit != "" {
		if !isExecutable(explicit) {
			return "", fault.New(fault.Invalid, fmt.Sprintf("%s %s is not an executable file", n.Flag, explicit))
		}
		return explicit, nil
	}
	self, err := os.Executable()
	if err == nil {
		if p := filepath.Join(filepath.Dir(self), n.Name); isExecutable(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath(n.Name); err == nil {
		return p, nil
	}
	where := "this binary's directory"
	if self != "" {
		where = self
	}
	return "", fault.Mark(&NotFoundError{Need: n, Beside: where}, fault.Invalid)
}

// NotFoundError is Find's answer when no binary is beside this one or on PATH.
type NotFoundError struct {
	Need   Need
	Beside string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("this etcdmedic (release build) runs etcd's own %s for %s: none next to %s or on PATH; pass %s",
		e.Need.Name, e.Need.For, e.Beside, e.Need.Flag)
}

// IsNotFound says err is Find's "none beside this binary or on PATH".
func IsNotFound(err error) bool {
	var nf *NotFoundError
	return errors.As(err, &nf)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// FindUnlessLinked is Find for work a build may link instead: "" (run the
// linked code) when nothing is given explicitly and linked is true (the
// full build), else Find's answer.
func FindUnlessLinked(n Need, explicit string, linked bool) (string, error) {
	if explicit == "" && linked {
		return "", nil
	}
	return Find(n, explicit)
}
