//go:build !slim || azureblob

package snapshot

// azblob:// links the Azure SDK, about 5 MB of the binary: the release build
// (-tags slim) leaves it out, and -tags slim,azureblob puts it back.
import _ "gocloud.dev/blob/azureblob"

func init() {
	linkScheme("azblob")
	bucketOpeners["azblob"] = openAzure
}
