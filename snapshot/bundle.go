package snapshot

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"filippo.io/age"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// Bundle parts stored beside a snapshot object, so a lost node can be
// rebuilt from the destination alone: the static-pod manifests, and (only
// encrypted) the PKI.
const (
	bundleManifests = ".manifests.tar.gz"
	bundlePKI       = ".pki.tar.gz"
)

// bundleSuffixes are every name a bundle part can have after its snapshot's
// name: prune removes exactly these with the snapshot.
var bundleSuffixes = []string{bundleManifests, bundleManifests + extAge, bundlePKI + extAge}

// BundleOptions say what goes beside the snapshot.
type BundleOptions struct {
	// ManifestsDir is stored as <name>.manifests.tar.gz[.age] when set.
	ManifestsDir string
	// PKIDir is stored as <name>.pki.tar.gz.age when set; it needs recipients.
	PKIDir string
}

// BundlePart is one stored part.
type BundlePart struct {
	URL    string `json:"url"`
	Files  int    `json:"files"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// CheckBundle refuses the PKI without encryption, and missing directories,
// before anything is contacted.
func CheckBundle(b BundleOptions, encrypted bool) error {
	if b.PKIDir != "" && !encrypted {
		return fault.Mark(errors.New("--with-pki stores private keys: only with --encrypt-to"), fault.Invalid)
	}
	for _, d := range []string{b.ManifestsDir, b.PKIDir} {
		if d == "" {
			continue
		}
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return fault.Mark(fmt.Errorf("%s: not a directory", d), fault.Invalid)
		}
	}
	return nil
}

// uploadBundle stores the bundle parts of a published snapshot. Each part is
// written under its final name directly: every driver makes an object
// readable only once its writer closed, and a part without its snapshot is
// never listed (prune removes parts only with their snapshot).
func (r *Remote) uploadBundle(ctx context.Context, snapName string, b BundleOptions, recipients []age.Recipient) ([]BundlePart, error) {
	var parts []BundlePart
	put := func(dir, suffix string, encrypt bool) error {
		if dir == "" {
			return nil
		}
		name := snapName + suffix
		if encrypt {
			name += extAge
		}
		// Cancelling the writer's context is how a write is abandoned.
		wctx, wcancel := context.WithCancel(ctx)
		defer wcancel()
		w, err := r.Bucket.NewWriter(wctx, r.Key(name), &blob.WriterOptions{ContentType: "application/octet-stream", IfNotExist: true})
		if err != nil {
			return r.classify(fmt.Errorf("write %s", r.URLOf(name)), err)
		}
		hc := newHashCounter(w)
		var out io.Writer = hc
		var aw io.WriteCloser
		if encrypt {
			if aw, err = age.Encrypt(hc, recipients...); err != nil {
				w.Close()
				return err
			}
			out = aw
		}
		n, err := writeTarGz(out, dir)
		if err == nil && aw != nil {
			err = aw.Close()
		}
		if err != nil {
			wcancel()
			w.Close()
			return fmt.Errorf("bundle %s: %w", dir, err)
		}
		if err := w.Close(); err != nil {
			if gcerrors.Code(err) == gcerrors.FailedPrecondition {
				return fault.Mark(fmt.Errorf("%w: %s", ErrTargetExists, r.URLOf(name)), fault.Refused)
			}
			return r.classify(fmt.Errorf("write %s", r.URLOf(name)), err)
		}
		parts = append(parts, BundlePart{URL: r.URLOf(name), Files: n, Size: hc.n, SHA256: hc.sum()})
		return nil
	}
	if err := put(b.ManifestsDir, bundleManifests, len(recipients) > 0); err != nil {
		return parts, err
	}
	if err := put(b.PKIDir, bundlePKI, true); err != nil {
		return parts, err
	}
	return parts, nil
}

// writeTarGz writes the regular files and symlinks under dir, with their
// modes, as a gzip'd tar, and returns how many files it wrote.
func writeTarGz(w io.Writer, dir string) (int, error) {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		} else if !fi.Mode().IsRegular() && !fi.IsDir() {
			return nil
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uname, h.Gname = strconv.Itoa(h.Uid), strconv.Itoa(h.Gid)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	if err := tw.Close(); err != nil {
		return n, err
	}
	return n, gz.Close()
}
