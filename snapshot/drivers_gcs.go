//go:build !slim || gcsblob

package snapshot

// gs:// links Google's storage SDK (and the gRPC xDS stack under it), about
// 17 MB of the binary: the release build (-tags slim) leaves it out, and
// -tags slim,gcsblob puts it back.
import _ "gocloud.dev/blob/gcsblob"

func init() {
	linkScheme("gs")
	bucketOpeners["gs"] = openGS
}
