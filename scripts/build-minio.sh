#!/usr/bin/env bash
# Build a real S3-compatible server (MinIO) from the Go module proxy, for the
# off-host snapshot tests (issue 18). github.com/minio/minio has no replace
# directives, so a plain `go install module@version` builds it. MinIO is
# AGPLv3: it is built here for the tests only, never vendored or shipped.
#
#   scripts/build-minio.sh              # MINIO_VERSION, default below
#   scripts/build-minio.sh v0.0.0-...   # any pseudo-version the proxy serves
#
# The binary lands in ${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}/minio/<version>/minio
# and is reused while it exists and answers --version, so a second run costs a
# second. A clean build takes several minutes on 2 cores (~140 MiB binary).
# The machine's own GOMODCACHE/GOCACHE are used so later runs share them.
#
# Exit status: 0 built or cached, 1 build failed, 64 usage error.
set -euo pipefail

VERSION=${1:-${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}}
case "$VERSION" in
  v[0-9]*.[0-9]*.[0-9]*) ;;
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;;
  *) echo "build-minio: version must look like v0.0.0-20260212201848-7aac2a2c5b7c, got $VERSION" >&2; exit 64 ;;
esac
command -v go >/dev/null || { echo "build-minio: go is not on PATH" >&2; exit 1; }

DIR="${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}/minio/$VERSION"
BIN="$DIR/minio"
if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$DIR"
TMP=$(mktemp -d "$DIR/gobin.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
echo "build-minio: building github.com/minio/minio@$VERSION (several minutes on 2 cores)" >&2
# Outside any module, so the project's go.mod does not take part.
(cd / && CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$TMP" go install -trimpath -ldflags "-s -w" "github.com/minio/minio@$VERSION")
mv "$TMP/minio" "$BIN"
"$BIN" --version >&2
echo "$BIN"
