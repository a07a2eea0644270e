// Package snapshot saves, verifies, lists, prunes and restores etcd snapshots.
//
// A snapshot is streamed from exactly one member to a temporary name in the
// target directory, checked (etcd's appended sha256 over the content, bolt's
// consistency check over the structure), fsynced, and only then renamed to its final name
// etcd-<clusterID>-<revision>-<UTC time>.db[.zst], with a metadata file
// beside it. Files it did not name are never touched.
package snapshot
