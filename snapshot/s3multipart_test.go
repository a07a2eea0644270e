package snapshot

import "testing"

// The part size stays S3's-minimum-friendly 8 MiB for ordinary databases and
// grows, in whole MiB, so that any database stays under S3's 10 000 parts.
func TestPartSizeFor(t *testing.T) {
	for _, est := range []int64{0, 1 << 20, 8 << 30, 64 << 30, 100 << 30, 1 << 40} {
		size := partSizeFor(est)
		if size < s3PartSize || size%(1<<20) != 0 {
			t.Errorf("partSizeFor(%d) = %d: under 8 MiB or not whole MiB", est, size)
		}
		if parts := (est + int64(size) - 1) / int64(size); parts > s3MaxParts {
			t.Errorf("partSizeFor(%d) = %d: %d parts, S3 allows %d", est, size, parts, s3MaxParts)
		}
		if est <= 8<<30 && size != s3PartSize {
			t.Errorf("partSizeFor(%d) = %d, want %d", est, size, s3PartSize)
		}
	}
}
