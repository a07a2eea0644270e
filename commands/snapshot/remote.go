package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/commands/cmdutil"
	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/output"
	snap "github.com/etcdmedic/etcdmedic/snapshot"
)

// RemoteFlags are save's destination flags (issue 18).
type RemoteFlags struct {
	To            string
	KeepLocal     string
	EncryptTo     []string
	WithManifests bool
	ManifestsDir  string
	WithPKI       bool
	PKIDir        string
}

func remoteFlags(cmd *cobra.Command, r *RemoteFlags) {
	fs := cmd.Flags()
	fs.StringVar(&r.To, "to", "", "stream into object storage instead: s3://bucket/prefix?endpoint=...&region=...&use_path_style=true, gs://, azblob://, file:///dir (credentials from the cloud's standard environment and files)")
	fs.StringVar(&r.KeepLocal, "keep-local", "", "with --to: keep a local snapshot in this directory too")
	fs.StringArrayVar(&r.EncryptTo, "encrypt-to", nil, "with --to: encrypt with age to this X25519 recipient (age1...); repeatable")
	fs.BoolVar(&r.WithManifests, "with-manifests", false, "with --to: store the static-pod manifests (--manifests-dir) beside the snapshot, so a lost node can be rebuilt")
	fs.StringVar(&r.ManifestsDir, "manifests-dir", "/etc/kubernetes/manifests", "the static-pod manifests --with-manifests stores")
	fs.BoolVar(&r.WithPKI, "with-pki", false, "with --to and --encrypt-to only: store the PKI (--pki-dir) beside the snapshot, encrypted")
	fs.StringVar(&r.PKIDir, "pki-dir", "/etc/kubernetes/pki", "the PKI --with-pki stores")
}

// validate refuses the destination-only flags without --to: they would
// otherwise be ignored, and a job that thinks it ships encrypted does not.
func (r *RemoteFlags) validate() error {
	if r.To != "" {
		return nil
	}
	if r.KeepLocal != "" || len(r.EncryptTo) > 0 || r.WithManifests || r.WithPKI {
		return cmdutil.UsageError(errors.New("--keep-local, --encrypt-to, --with-manifests and --with-pki go with --to URL"))
	}
	return nil
}

func (r *RemoteFlags) bundle() snap.BundleOptions {
	var b snap.BundleOptions
	if r.WithManifests {
		b.ManifestsDir = r.ManifestsDir
	}
	if r.WithPKI {
		b.PKIDir = r.PKIDir
	}
	return b
}

// saveMemoryLimit is save --to's soft heap limit.
const saveMemoryLimit = 48 << 20

// RemoteSaveReport is the JSON output of save --to (a contract).
type RemoteSaveReport struct {
	Save  *snap.RemoteSaveResult `json:"save"`
	Prune *snap.PruneResult      `json:"prune,omitempty"`
	Error string                 `json:"error,omitempty"`
}

// RunSaveRemote is save --to URL: the stream goes straight into an upload;
// retention and the metrics file apply to the destination.
func RunSaveRemote(ctx context.Context, opts *SaveOptions) error {
	start := opts.Now()
	if opts.Save.Target != "" {
		return cmdutil.UsageError(errors.New("give either DIR|FILE or --to URL, not both (--keep-local DIR keeps a local copy)"))
	}
	if opts.Remote.KeepLocal != "" {
		if err := snap.CheckTarget(opts.Remote.KeepLocal, false); err != nil {
			return err
		}
	}
	if _, err := snap.ParseRemote(opts.Remote.To); err != nil {
		return err
	}
	if _, err := snap.ParseRecipients(opts.Remote.EncryptTo); err != nil {
		return err
	}
	if err := snap.CheckBundle(opts.Remote.bundle(), len(opts.Remote.EncryptTo) > 0); err != nil {
		return err
	}
	if opts.MetricsFile != "" {
		if err := snap.CheckMetricsFile(opts.MetricsFile); err != nil {
			return err
		}
	}
	format := opts.Format()
	prog := newProgress(opts.IO)
	o := snap.RemoteSaveOptions{SaveOptions: opts.Save, To: opts.Remote.To, KeepLocal: opts.Remote.KeepLocal, EncryptTo: opts.Remote.EncryptTo,
		Bundle: opts.Remote.bundle()}
	o.Progress, o.Now = prog.update, opts.Now

	// The stream churns through the whole database in fresh buffers: a soft
	// limit makes the collector keep the heap near what is live (queue and
	// upload parts) instead of letting it grow to twice that. GOMEMLIMIT wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(saveMemoryLimit))
	}
	report := &RemoteSaveReport{}
	err := func() error {
		c, err := opts.OpenCluster()
		if err != nil {
			return err
		}
		defer c.Close()
		report.Save, err = snap.SaveRemote(ctx, c, o)
		prog.done()
		return err
	}()

	pruneFailed := false
	var entries []snap.Entry
	if err == nil && (!opts.Prune.Empty() || opts.MetricsFile != "") {
		r, _, oerr := snap.Open(ctx, opts.Remote.To)
		if oerr != nil {
			err = fault.Mark(fmt.Errorf("prune: %w", oerr), fault.Partial)
			pruneFailed = true
		} else {
			if !opts.Prune.Empty() {
				report.Prune, err = r.Prune(ctx, opts.Prune, opts.Now(), false)
				switch {
				case err != nil:
					pruneFailed = true
					err = fault.Mark(err, fault.Partial)
				case len(report.Prune.Warnings) > 0:
					err = fault.Mark(fmt.Errorf("prune: %s", report.Prune.Warnings[0]), fault.Partial)
				}
			}
			entries, _ = r.List(ctx, opts.Now())
			r.Close()
		}
	} else if opts.MetricsFile != "" {
		if r, _, oerr := snap.Open(ctx, opts.Remote.To); oerr == nil {
			entries, _ = r.List(ctx, opts.Now())
			r.Close()
		}
	}
	if opts.MetricsFile != "" {
		m := snap.RunMetrics{Success: report.Save != nil, Finished: opts.Now(), Duration: opts.Now().Sub(start), PruneFailed: pruneFailed, Dir: entries}
		if report.Save != nil {
			m.Save = &report.Save.SaveResult
		}
		if report.Prune != nil {
			m.Pruned = len(report.Prune.Deleted)
		}
		err = writeRunMetrics(opts.IO, opts.MetricsFile, m, err)
	}
	if err != nil {
		report.Error = cmdutil.Message(err)
	}
	if format.Machine() {
		if werr := output.Write(opts.IO.Out, format, report); werr != nil {
			return werr
		}
	} else if report.Save != nil {
		renderSave(opts.IO, &SaveReport{Save: &report.Save.SaveResult, Prune: report.Prune})
		if report.Save.KeptLocal != "" {
			fmt.Fprintf(opts.IO.Out, "  kept a local copy %s\n", report.Save.KeptLocal)
		}
		if m := report.Save.Metadata; m.Encrypted {
			fmt.Fprintf(opts.IO.Out, "  encrypted to %v\n", m.Recipients)
		}
		for _, b := range report.Save.Bundle {
			fmt.Fprintf(opts.IO.Out, "  stored %s (%d files)\n", b.URL, b.Files)
		}
		for _, a := range report.Save.AbortedUploads {
			fmt.Fprintf(opts.IO.Out, "  removed leftover upload %s\n", a)
		}
	}
	return err
}

// listAny lists a directory or a destination URL.
func listAny(ctx context.Context, dirOrURL string, o *ListOptions) ([]snap.Entry, error) {
	if !snap.IsURL(dirOrURL) {
		return snap.List(dirOrURL, o.Now())
	}
	r, _, err := snap.Open(ctx, dirOrURL)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.List(ctx, o.Now())
}

// pruneAny prunes a directory or a destination URL.
func pruneAny(ctx context.Context, o *PruneOptions) (*snap.PruneResult, error) {
	if !snap.IsURL(o.Dir) {
		return snap.Prune(ctx, o.Dir, o.Policy, o.Now(), !o.Yes)
	}
	r, loc, err := snap.Open(ctx, o.Dir)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if loc.Name != "" {
		return nil, fault.Mark(errors.New("prune takes a destination, not one snapshot"), fault.Invalid)
	}
	return r.Prune(ctx, o.Policy, o.Now(), !o.Yes)
}

// verifyAny verifies a file or an object URL/NAME. An encrypted object
// without an identity comes back checked as far as its ciphertext goes,
// with a warning (exit 1), not as an error.
func verifyAny(ctx context.Context, file string, o *VerifyOptions) (*snap.VerifyResult, error) {
	if !snap.IsURL(file) {
		r, _, err := snap.Verify(ctx, file, snap.VerifyOptions{TempDir: o.TempDir})
		return r, err
	}
	ids, err := snap.ReadIdentities(o.Identity)
	if err != nil {
		return nil, err
	}
	r, loc, err := snap.Open(ctx, file)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if loc.Name == "" {
		return nil, fault.Mark(fmt.Errorf("%s names no snapshot: give URL/NAME (see %s)", r.Display, cluster.ShellJoin([]string{"etcdmedic", "snapshot", "list", r.CommandURL("")})), fault.Invalid)
	}
	res, err := r.Verify(ctx, loc.Name, snap.FetchOptions{Identities: ids, TempDir: o.TempDir})
	if res != nil && res.VerifyResult != nil && (err == nil || errors.Is(err, snap.ErrEncrypted) || errors.Is(err, snap.ErrCorrupt)) {
		return res.VerifyResult, nil
	}
	return nil, err
}

// restoreAny restores from a file or an object URL/NAME.
func restoreAny(ctx context.Context, o *RestoreOptions) (*snap.RestoreResult, error) {
	if !snap.IsURL(o.Restore.File) {
		return snap.Restore(ctx, o.Restore)
	}
	ids, err := snap.ReadIdentities(o.Identity)
	if err != nil {
		return nil, err
	}
	r, loc, err := snap.Open(ctx, o.Restore.File)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if loc.Name == "" {
		return nil, fault.Mark(fmt.Errorf("%s names no snapshot: give URL/NAME", r.Display), fault.Invalid)
	}
	return r.RestoreRemote(ctx, loc.Name, o.Restore, snap.FetchOptions{Identities: ids, TempDir: o.Restore.TempDir})
}
