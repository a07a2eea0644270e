package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
)

// staleUpload is how old another host's upload must be before it counts as
// left behind: that host may still be uploading, and no upload of a
// snapshot takes a day.
const staleUpload = 24 * time.Hour

// Compiled on first use: a package-level regexp is compiled at start-up by
// every command, which this one is not.
var uploadName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^p([0-9]+)-[0-9a-f]{16}-(.*)\.part$`) })

// leftBehind says whether an upload under uploadDir belongs to no running
// save: on this host, its process is gone; from another host, it is older
// than staleUpload.
func leftBehind(base string, started, now time.Time) bool {
	m := uploadName().FindStringSubmatch(base)
	if m == nil {
		return false // not a name this tool gives: never touched
	}
	host, _ := os.Hostname()
	if m[2] == host {
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() {
			return false
		}
		err := syscall.Kill(pid, 0)
		return errors.Is(err, syscall.ESRCH)
	}
	return !started.IsZero() && now.Sub(started) > staleUpload
}

// CleanupUploads removes what killed saves left at the destination: the
// incomplete multipart uploads (S3 keeps them, billed, until a lifecycle
// rule or an abort removes them) and temporary objects under uploadDir.
// Only names this tool gives are touched.
func (r *Remote) CleanupUploads(ctx context.Context, now time.Time) ([]string, error) {
	removed := []string{}
	if c := r.S3(); c != nil {
		// MinIO lists multipart uploads for an exact key only, or for the
		// whole bucket: a prefix matches nothing. So the whole bucket, and
		// the keys are filtered here.
		in := &s3.ListMultipartUploadsInput{Bucket: aws.String(r.bucketName())}
		for {
			out, err := c.ListMultipartUploads(ctx, in)
			if err != nil {
				return removed, r.classify(errors.New("list multipart uploads"), err)
			}
			for _, u := range out.Uploads {
				key := aws.ToString(u.Key)
				base, ok := strings.CutPrefix(key, r.Prefix+uploadDir)
				switch {
				case ok && leftBehind(base, aws.ToTime(u.Initiated), now):
				case !ok && r.isStaleDirect(key, aws.ToTime(u.Initiated), now):
				default:
					continue
				}
				if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: in.Bucket, Key: u.Key, UploadId: u.UploadId}); err != nil {
					return removed, r.classify(fmt.Errorf("abort upload %s", key), err)
				}
				removed = append(removed, "multipart:"+key)
			}
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
		}
	}
	it := r.Bucket.List(&blob.ListOptions{Prefix: r.Prefix + uploadDir})
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return removed, r.classify(errors.New("list uploads"), err)
		}
		base := strings.TrimPrefix(o.Key, r.Prefix+uploadDir)
		if o.IsDir {
			continue
		}
		// An intent names an upload exactly: MinIO lists a whole bucket's
		// multipart uploads from memory, which a restart empties, and an
		// exact key from disk. So each upload leaves its key behind first.
		if part, ok := strings.CutSuffix(base, intentSuffix); ok {
			if !leftBehind(part, o.ModTime, now) {
				continue
			}
			name := r.intentTarget(ctx, o.Key)
			key := r.Key(name)
			for _, k := range r.abortMultipart(ctx, key) {
				if !slices.Contains(removed, "multipart:"+k) {
					removed = append(removed, "multipart:"+k)
				}
			}
			if isSnapshotName(path.Base(name)) && r.uploadGone(ctx, key) {
				// Killed between writing the .meta.json and completing: the
				// metadata of an object that never appeared goes too.
				if ok, err := r.Bucket.Exists(ctx, key); err == nil && !ok {
					if ok, err := r.Bucket.Exists(ctx, key+MetaSuffix); err == nil && ok && r.Bucket.Delete(ctx, key+MetaSuffix) == nil {
						removed = append(removed, key+MetaSuffix)
					}
				}
			}
			if err := r.Bucket.Delete(ctx, o.Key); err != nil {
				return removed, r.classify(fmt.Errorf("remove %s", o.Key), err)
			}
			continue
		}
		if !leftBehind(base, o.ModTime, now) {
			continue
		}
		if err := r.Bucket.Delete(ctx, o.Key); err == nil {
			removed = append(removed, o.Key)
		}
	}
	return removed, nil
}

// intentSuffix marks the small object an upload writes before it starts:
// it names (under the prefix) the key the upload goes to.
const intentSuffix = ".intent"

// intentTarget is the key (under the prefix) an intent names: its content
// when that is a name this tool uploads to, else (intents of older
// versions) the temporary key beside it.
func (r *Remote) intentTarget(ctx context.Context, intentKey string) string {
	fallback := strings.TrimPrefix(strings.TrimSuffix(intentKey, intentSuffix), r.Prefix)
	b, err := r.readAll(ctx, intentKey)
	if err != nil || len(b) > 1024 {
		return fallback
	}
	name := strings.TrimSpace(string(b))
	if tmp, ok := strings.CutPrefix(name, uploadDir); ok && uploadName().MatchString(tmp) {
		return name
	}
	if !strings.Contains(name, "/") && isSnapshotName(name) {
		return name
	}
	return fallback
}

// isStaleDirect: a multipart upload to a snapshot name directly under the
// prefix, older than any save takes (its own run's intent, if any, is
// handled by the intent; this catches one whose intent was lost).
func (r *Remote) isStaleDirect(key string, started, now time.Time) bool {
	name, ok := strings.CutPrefix(key, r.Prefix)
	return ok && !strings.Contains(name, "/") && isSnapshotName(name) && !started.IsZero() && now.Sub(started) > staleUpload
}

// abortMultipart aborts the multipart uploads of one key and returns the
// keys it aborted (best effort: the next run's cleanup catches the rest).
func (r *Remote) abortMultipart(ctx context.Context, key string) []string {
	c := r.S3()
	if c == nil {
		return nil
	}
	out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(r.bucketName()), Prefix: aws.String(key)})
	if err != nil {
		return nil
	}
	var aborted []string
	for _, u := range out.Uploads {
		if aws.ToString(u.Key) != key {
			continue
		}
		if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(r.bucketName()), Key: u.Key, UploadId: u.UploadId}); err == nil {
			aborted = append(aborted, key)
		}
	}
	return aborted
}

func (r *Remote) bucketName() string {
	s := strings.TrimPrefix(r.Display, r.scheme+"://")
	name, _, _ := strings.Cut(s, "/")
	return name
}

// uploadGone says the server confirms no multipart upload of key is left
// (true for drivers without multipart uploads).
func (r *Remote) uploadGone(ctx context.Context, key string) bool {
	c := r.S3()
	if c == nil {
		return true
	}
	out, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(r.bucketName()), Prefix: aws.String(key)})
	if err != nil {
		return false
	}
	for _, u := range out.Uploads {
		if aws.ToString(u.Key) == key {
			return false
		}
	}
	return true
}
