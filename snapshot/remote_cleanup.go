package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"gocloud.dev/blob"
)

// staleUpload is how old another host's upload must be before it counts as
// left behind: that host may still be uploading, and no upload of a
// snapshot takes a day.
const staleUpload = 24 * time.Hour

var uploadName = regexp.MustCompile(`^p([0-9]+)-[0-9a-f]{16}-(.*)\.part$`)

// leftBehind says whether an upload under uploadDir belongs to no running
// save: on this host, its process is gone; from another host, it is older
// than staleUpload.
func leftBehind(base string, started, now time.Time) bool {
	m := uploadName.FindStringSubmatch(base)
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
				if !ok || !leftBehind(base, aws.ToTime(u.Initiated), now) {
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
			key := strings.TrimSuffix(o.Key, intentSuffix)
			for _, k := range r.abortMultipart(ctx, key) {
				if !slices.Contains(removed, "multipart:"+k) {
					removed = append(removed, "multipart:"+k)
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

// intentSuffix marks the small object an upload writes before it starts.
const intentSuffix = ".intent"

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

// setCopyMetadata replaces the copy's metadata on S3 with the checked size
// and sha256; other drivers copy the object as it is (its .meta.json
// carries the figures).
func setCopyMetadata(as func(any) bool, md map[string]string) error {
	var in *s3.CopyObjectInput
	if as(&in) {
		in.MetadataDirective = types.MetadataDirectiveReplace
		in.Metadata = md
		in.ContentType = aws.String("application/octet-stream")
	}
	return nil
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
