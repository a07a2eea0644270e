package snapshot

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/s3blob" // s3://; gs:// and azblob:// in drivers_*.go
	"gocloud.dev/gcerrors"

	"github.com/etcdmedic/etcdmedic/internal/fault"
	"github.com/etcdmedic/etcdmedic/internal/secret"
)

// extAge marks a snapshot encrypted with age: the name is the stored form's
// name (.db or .db.zst) with .age appended.
const extAge = ".age"

// uploadDir holds uploads in progress, under the destination's prefix: a
// "directory" of its own, so no listing of snapshots ever sees one, and a
// leftover can be found and removed without guessing at other names.
const uploadDir = ".etcdmedic-upload/"

// schemes are the destinations gocloud's drivers linked here understand.
var schemes = map[string]bool{"s3": true, "file": true}

// leftOut says what to do about a scheme this build does not link (the
// release build, -tags slim, carries s3:// and file:// only).
var leftOut = map[string]string{
	"gs":     "gs:// is not in this build (the release binary has s3:// and file://): GCS also speaks S3 (its XML API, HMAC keys: s3://BUCKET?endpoint=https://storage.googleapis.com), or build with -tags slim,gcsblob (go install builds every driver)",
	"azblob": "azblob:// is not in this build (the release binary has s3:// and file://): build with -tags slim,azureblob (go install builds every driver)",
}

// bucketOpeners open a scheme's bucket with connections bounded by an idle
// timeout; a scheme without one is opened by gocloud's URL mux.
var bucketOpeners = map[string]func(ctx context.Context, u *url.URL, idle time.Duration) (*blob.Bucket, error){"s3": openS3}

// linkScheme records a driver linked into this build.
func linkScheme(s string) { schemes[s] = true; delete(leftOut, s) }

// IsURL tells a destination URL from a local path: only a scheme this tool
// knows makes a URL, so a relative path with a colon stays a path. Any other
// "x://" is a URL with an unknown scheme, and OpenRemote says so.
func IsURL(s string) bool { return strings.Contains(s, "://") }

// Remote is an opened destination: a bucket (or directory) and a key prefix.
type Remote struct {
	Bucket *blob.Bucket
	// Prefix is the key prefix, empty or ending in "/".
	Prefix string
	// Display is the URL without its query, for messages: it names the
	// destination without repeating endpoint options.
	Display string
	scheme  string
	// query is the URL's query for commands printed as next steps, which
	// must reach the same endpoint; empty when a value holds user info.
	query string
	dir   string // a file:// destination's directory
}

// RemoteLocation is a parsed destination: bucket URL and, when the URL
// named one, a snapshot object.
type RemoteLocation struct {
	Scheme, Bucket, Prefix, Name string
	Query                        url.Values
	// Dir is the local directory of a file:// URL.
	Dir string
	// IdleTimeout bounds an s3:// connection that moves nothing
	// (0: DefaultStorageIdleTimeout).
	IdleTimeout time.Duration
}

// ParseRemote parses s3://bucket/prefix?..., gs://, azblob://, file:///dir,
// each optionally ending in a snapshot's name. Errors are usage errors.
func ParseRemote(raw string) (*RemoteLocation, error) {
	if hasUserInfo(raw) {
		// Refused before parsing: a parse error would quote a password
		// holding a '/' or ':' as a host or port.
		return nil, fault.Mark(fmt.Errorf("%s: credentials do not belong in the URL: use the cloud's standard environment or files", redactURL(raw)), fault.Invalid)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fault.Mark(fmt.Errorf("malformed URL %q: %w", redactURL(raw), errors.Unwrap(err)), fault.Invalid)
	}
	if why := leftOut[u.Scheme]; why != "" {
		return nil, fault.Mark(errors.New(why), fault.Invalid)
	}
	if !schemes[u.Scheme] {
		return nil, fault.Mark(fmt.Errorf("unknown scheme %q in %s (s3://, gs://, azblob:// or file://)", u.Scheme, redactURL(raw)), fault.Invalid)
	}
	loc := &RemoteLocation{Scheme: u.Scheme, Query: u.Query()}
	p := u.Path
	if base := path.Base(p); isSnapshotName(base) {
		loc.Name, p = base, path.Dir(p)
	}
	if u.Scheme == "file" {
		if u.Host != "" && u.Host != "localhost" {
			return nil, fault.Mark(fmt.Errorf("file URL %s: use file:///absolute/dir", redactURL(raw)), fault.Invalid)
		}
		if p == "" || p == "." {
			return nil, fault.Mark(fmt.Errorf("file URL %s names no directory", redactURL(raw)), fault.Invalid)
		}
		loc.Dir = filepath.Clean(p)
		return loc, nil
	}
	if u.Host == "" {
		return nil, fault.Mark(fmt.Errorf("URL %s names no bucket", redactURL(raw)), fault.Invalid)
	}
	loc.Bucket = u.Host
	if pre := strings.Trim(p, "/"); pre != "" && pre != "." {
		loc.Prefix = pre + "/"
	}
	if q := loc.Query.Get("prefix"); q != "" {
		loc.Prefix += strings.TrimPrefix(q, "/")
		loc.Query.Del("prefix")
	}
	return loc, nil
}

// isSnapshotName: a name this tool gives, plain, compressed or encrypted.
func isSnapshotName(base string) bool {
	_, ok := ParseName(strings.TrimSuffix(base, extAge))
	return ok
}

// OpenRemote opens the destination and checks it is there and readable
// with the credentials the environment gives: a missing bucket is a usage
// error, one that cannot be reached or authenticated to is indeterminate.
func OpenRemote(ctx context.Context, loc *RemoteLocation) (*Remote, error) {
	r := &Remote{scheme: loc.Scheme, Prefix: loc.Prefix}
	if q := loc.Query.Encode(); !strings.Contains(q, "%40") {
		r.query = q
	}
	var err error
	switch loc.Scheme {
	case "file":
		r.Display, r.dir = "file://"+loc.Dir, loc.Dir
		fi, serr := os.Stat(loc.Dir)
		if serr != nil || !fi.IsDir() {
			return nil, fault.Mark(fmt.Errorf("%s: directory does not exist", r.Display), fault.Invalid)
		}
		// The temp file sits beside its final name, so the rename never
		// crosses devices; the .attrs sidecars keep each object's metadata.
		r.Bucket, err = fileblob.OpenBucket(loc.Dir, &fileblob.Options{NoTempDir: true})
		if err != nil {
			return nil, fault.Mark(fmt.Errorf("open %s: %w", r.Display, err), fault.Invalid)
		}
		return r, nil
	}
	r.Display = loc.Scheme + "://" + loc.Bucket + "/" + loc.Prefix
	u := url.URL{Scheme: loc.Scheme, Host: loc.Bucket, RawQuery: loc.Query.Encode()}
	if open := bucketOpeners[loc.Scheme]; open != nil {
		r.Bucket, err = open(ctx, &u, cmp.Or(loc.IdleTimeout, DefaultStorageIdleTimeout))
	} else {
		r.Bucket, err = blob.OpenBucket(ctx, u.String())
	}
	if fault.Kind(err) != nil {
		// Said in words already.
		return nil, fault.Mark(fmt.Errorf("open %s: %s", r.Display, redact(err.Error())), fault.Kind(err))
	}
	if err != nil {
		// The drivers name the whole URL, query values (an endpoint with
		// credentials in it) included: only the display form is shown.
		msg := strings.ReplaceAll(err.Error(), u.String(), r.Display)
		return nil, fault.Mark(fmt.Errorf("open %s: %s", r.Display, redact(msg)), fault.Invalid)
	}
	ok, err := r.Bucket.IsAccessible(ctx)
	switch {
	case err != nil:
		r.Bucket.Close()
		return nil, r.classify(fmt.Errorf("open %s", r.Display), err)
	case !ok:
		r.Bucket.Close()
		return nil, fault.Mark(fmt.Errorf("%s: bucket %q does not exist", r.Display, loc.Bucket), fault.Invalid)
	}
	return r, nil
}

// Open parses and opens a destination URL.
func Open(ctx context.Context, raw string) (*Remote, *RemoteLocation, error) {
	loc, err := ParseRemote(raw)
	if err != nil {
		return nil, nil, err
	}
	r, err := OpenRemote(ctx, loc)
	return r, loc, err
}

// Close releases the bucket.
func (r *Remote) Close() error { return r.Bucket.Close() }

// Key is the object key of a name under the prefix.
func (r *Remote) Key(name string) string { return r.Prefix + name }

// URLOf names an object for people and for JSON (no query, no secrets).
func (r *Remote) URLOf(name string) string {
	return strings.TrimSuffix(r.Display, "/") + "/" + name
}

// CommandURL is the destination, or one object under it when name is set,
// as a command-line argument: with the query (endpoint, region, path style),
// so a printed command reaches the same storage.
func (r *Remote) CommandURL(name string) string {
	u := r.Display
	if name != "" {
		u = r.URLOf(name)
	}
	if r.query != "" {
		u += "?" + r.query
	}
	return u
}

// S3 is the raw S3 client under an s3:// bucket, nil for other schemes.
func (r *Remote) S3() *s3.Client {
	var c *s3.Client
	if r.scheme == "s3" && r.Bucket.As(&c) {
		return c
	}
	return nil
}

// classify marks a storage error: credentials refused or no route to the
// service is indeterminate (exit 3), a missing object or bucket is invalid
// input, the rest failed. Messages are scrubbed of secrets.
func (r *Remote) classify(ctx error, err error) error {
	msg := fmt.Errorf("%w: %s", ctx, redact(oneLine(briefSDKError(err).Error())))
	if d, why := credentialDiagnosis(r.scheme, err); d != "" {
		// Said first, in words; the SDK's reason follows for the record.
		return fault.Mark(fmt.Errorf("%w: %s (%s)", ctx, d, redact(oneLine(why))), fault.Indeterminate)
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return fault.Mark(msg, fault.Invalid)
	case gcerrors.PermissionDenied, gcerrors.DeadlineExceeded, gcerrors.Unknown, gcerrors.Internal:
		// Unknown and Internal are what the SDKs give for a refused
		// connection, a DNS failure or a bad signature.
		return fault.Mark(msg, fault.Indeterminate)
	}
	return fault.Mark(msg, fault.Failed)
}

// credentialDiagnosis is the scheme's diagnosis of a credentials failure,
// "" for any other error.
func credentialDiagnosis(scheme string, err error) (diagnosis, detail string) {
	switch scheme {
	case "s3":
		return s3Diagnosis(err)
	case "azblob":
		// Azure's default chain (environment, workload and managed
		// identity, the CLI) found nothing that gives a token.
		if _, why, ok := strings.Cut(err.Error(), "DefaultAzureCredential: "); ok {
			return "no Azure credentials worked: set AZURE_STORAGE_KEY (with AZURE_STORAGE_ACCOUNT), AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_CONNECTION_STRING, or run where a managed or workload identity is", why
		}
	}
	return "", ""
}

// readMeta reads a snapshot object's .meta.json; ok is false when there is none.
func (r *Remote) readMeta(ctx context.Context, name string) (*Metadata, bool, error) {
	b, err := r.readAll(ctx, r.Key(name+MetaSuffix))
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, r.classify(fmt.Errorf("read %s", r.URLOf(name+MetaSuffix)), err)
	}
	m := &Metadata{}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, true, fmt.Errorf("metadata %s: %w", r.URLOf(name+MetaSuffix), err)
	}
	return m, true, nil
}

// copyObject streams an object into w, bounded by ctx.
func (r *Remote) copyObject(ctx context.Context, name string, w io.Writer) (int64, error) {
	rd, err := r.Bucket.NewReader(ctx, r.Key(name), &blob.ReaderOptions{BeforeRead: quietChecksums})
	if err != nil {
		return 0, r.classify(fmt.Errorf("read %s", r.URLOf(name)), err)
	}
	defer rd.Close()
	n, err := io.CopyBuffer(w, ctxReader{ctx, rd}, make([]byte, 1<<20))
	if err != nil {
		return n, fmt.Errorf("read %s: %s", r.URLOf(name), redact(err.Error()))
	}
	return n, nil
}

// redact removes secret values from a message.
func redact(s string) string { return secret.Redact(s, nil) }

// redactURL drops a URL's user info and query from messages.
func redactURL(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	return redact(secret.WithoutUserInfo(raw))
}

// hasUserInfo says whether a URL carries a user[:password]@ before its
// query (see secret.WithoutUserInfo).
func hasUserInfo(raw string) bool {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	return secret.HasUserInfo(raw)
}

// quietChecksums keeps the S3 SDK from logging, on every read of an object
// uploaded in parts, that it cannot validate a composite checksum: the
// object's sha256 is compared with its metadata as it is read.
func quietChecksums(as func(any) bool) error {
	var opts *[]func(*s3.Options)
	if as(&opts) {
		*opts = append(*opts, func(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true })
	}
	return nil
}

// readAll reads a small object whole.
func (r *Remote) readAll(ctx context.Context, key string) ([]byte, error) {
	rd, err := r.Bucket.NewReader(ctx, key, &blob.ReaderOptions{BeforeRead: quietChecksums})
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(io.LimitReader(rd, 64<<20))
}
