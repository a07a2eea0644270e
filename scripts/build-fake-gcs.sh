#!/usr/bin/env bash
# Build fake-gcs-server (github.com/fsouza/fake-gcs-server, BSD-2) from the Go
# module proxy: the Google Cloud Storage JSON API on loopback, for the gs://
# snapshot tests (issue 18). It has no replace directives, so a plain
# `go install module@version` builds it. Built for the tests only.
#
#   scripts/build-fake-gcs.sh              # FAKE_GCS_VERSION, default below
#   scripts/build-fake-gcs.sh v1.56.1
#
# The binary lands in ${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}/fake-gcs-server/<version>/fake-gcs-server
# and is reused while it exists and answers -help, so a second run costs a
# second. A clean build takes about 30 s on 2 cores.
#
# Exit status: 0 built or cached, 1 build failed, 64 usage error.
set -euo pipefail

VERSION=${1:-${FAKE_GCS_VERSION:-v1.56.1}}
case "$VERSION" in
  v[0-9]*.[0-9]*.[0-9]*) ;;
  -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;;
  *) echo "build-fake-gcs: version must look like v1.56.1, got $VERSION" >&2; exit 64 ;;
esac
command -v go >/dev/null || { echo "build-fake-gcs: go is not on PATH" >&2; exit 1; }

DIR="${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}/fake-gcs-server/$VERSION"
BIN="$DIR/fake-gcs-server"
if [ -x "$BIN" ] && "$BIN" -help >/dev/null 2>&1; then
  echo "$BIN"
  exit 0
fi

mkdir -p "$DIR"
TMP=$(mktemp -d "$DIR/gobin.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
echo "build-fake-gcs: building github.com/fsouza/fake-gcs-server@$VERSION" >&2
# Outside any module, so the project's go.mod does not take part.
(cd / && CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$TMP" go install -trimpath -ldflags "-s -w" "github.com/fsouza/fake-gcs-server@$VERSION")
mv "$TMP/fake-gcs-server" "$BIN"
echo "$BIN"
