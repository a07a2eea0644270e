#!/usr/bin/env bash
# Build helm from the Go module proxy (helm.sh/helm/v3 has no replace
# directives, so `go install` works) for the chart tests: helm lint and
# helm template of deploy/helm/etcdmedic.
#
#   scripts/build-helm.sh            # HELM_VERSION, default v3.22.0
#   scripts/build-helm.sh v3.21.4
#
# The binary lands in ${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}/helm/<version>/helm
# and is reused while it reports that version; the path is printed.
# A clean build takes a few minutes on 2 cores.
# Exit status: 0 built or cached, 1 build failed, 64 usage error.
set -euo pipefail

VERSION=${1:-${HELM_VERSION:-v3.22.0}}
case "$VERSION" in
  v3.[0-9]*.[0-9]*) ;;
  -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;;
  *) echo "build-helm: version must look like v3.22.0, got $VERSION" >&2; exit 64 ;;
esac
command -v go >/dev/null || { echo "build-helm: go is not on PATH" >&2; exit 1; }

DIR="${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}/helm/$VERSION"
BIN="$DIR/helm"
if [ -x "$BIN" ] && "$BIN" version --template '{{.Version}}' 2>/dev/null | grep -qx "$VERSION"; then
  echo "$BIN"
  exit 0
fi
mkdir -p "$DIR"
# helm reads its version from ldflags; without them `helm version` says
# v3.x-dev-ish defaults, so stamp the one installed.
cd /
CGO_ENABLED=0 GOFLAGS= GOBIN="$DIR" go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$VERSION" \
  "helm.sh/helm/v3/cmd/helm@$VERSION" >&2
"$BIN" version --template '{{.Version}}' | grep -qx "$VERSION" || {
  echo "build-helm: $BIN does not report $VERSION" >&2; exit 1; }
echo "$BIN"
