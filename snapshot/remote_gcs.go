//go:build !slim || gcsblob

package snapshot

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/gcp"
	"golang.org/x/oauth2/google"

	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// openGS opens a gs:// bucket with an HTTP client whose connections fail
// when idle (see idleTransport), finding credentials as gocloud's URL opener
// does but saying so when there are none: that opener prints a warning to
// stdout (into -o json) and goes on with empty credentials, whose failure
// then reads "private key should be a PEM".
func openGS(ctx context.Context, u *url.URL, idle time.Duration) (*blob.Bucket, error) {
	q := u.Query()
	tr := idleTransport(idle)
	opener := &gcsblob.URLOpener{}
	if q.Get("anonymous") == "true" || q.Get("access_id") == "-" || os.Getenv("STORAGE_EMULATOR_HOST") != "" {
		// Given here, so the opener does not replace the client with one
		// of its own that has no idle bound.
		opener.Client = gcp.NewAnonymousHTTPClient(tr)
		q.Del("anonymous")
		if q.Get("access_id") == "-" {
			q.Del("access_id")
		}
	} else {
		var creds *google.Credentials
		var err error
		if ud := q.Get("universe_domain"); ud != "" {
			creds, err = gcp.DefaultCredentialsWithParams(ctx, google.CredentialsParams{UniverseDomain: ud})
		} else {
			creds, err = gcp.DefaultCredentials(ctx)
		}
		if err != nil {
			return nil, fault.Mark(fmt.Errorf("no Google credentials found: set GOOGLE_APPLICATION_CREDENTIALS to a key file, run 'gcloud auth application-default login', or run where a service account is attached (%s)", oneLine(err.Error())), fault.Indeterminate)
		}
		ts := gcp.CredentialsTokenSource(creds)
		if opener.Client, err = gcp.NewHTTPClient(tr, ts); err != nil {
			return nil, fault.Mark(err, fault.Indeterminate)
		}
		opener.TokenSource = ts
	}
	opened := *u
	opened.RawQuery = q.Encode()
	return opener.OpenBucketURL(ctx, &opened)
}
