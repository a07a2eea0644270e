#!/usr/bin/env bash
# Build a real kube-apiserver from the Go module proxy, for the break-glass
# end-to-end test (issue 6). k8s.io/kubernetes cannot be `go install`ed: it
# requires its staging modules (k8s.io/api, k8s.io/apiserver, ...) at v0.0.0
# and replaces them with local directories. A throwaway wrapper module requires
# k8s.io/kubernetes and replaces each of those staging modules with its
# published v0.<minor>.<patch>, which the proxy serves.
#
#   scripts/build-kube-apiserver.sh            # K8S_VERSION, default v1.34.4
#   scripts/build-kube-apiserver.sh v1.36.3    # any version the proxy serves
#
# The binary lands in ${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}/kube-apiserver/<version>/kube-apiserver
# and is reused while it still reports that version, so a second run costs
# a second. A clean build takes ~10 min on 2 cores (17 min on a busy machine),
# ~3 GB of build cache and ~0.6 GB of module cache. The machine's own
# GOMODCACHE/GOCACHE are used on purpose so later runs share them.
#
# Exit status: 0 built or cached, 1 build failed, 64 usage error.
set -euo pipefail

VERSION=${1:-${K8S_VERSION:-v1.34.4}}
case "$VERSION" in
  v1.[0-9]*.[0-9]*) ;;
  -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;;
  *) echo "build-kube-apiserver: version must look like v1.34.4, got $VERSION" >&2; exit 64 ;;
esac
command -v go >/dev/null || { echo "build-kube-apiserver: go is not on PATH" >&2; exit 1; }

DIR="${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}/kube-apiserver/$VERSION"
BIN="$DIR/kube-apiserver"
if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -qx "Kubernetes $VERSION"; then
  echo "$BIN"
  exit 0
fi

MINOR=$(echo "$VERSION" | cut -d. -f2)
STAGING="v0.${VERSION#v1.}"
MOD="$DIR/mod"
mkdir -p "$MOD"
cd "$MOD"
export CGO_ENABLED=0 GOFLAGS=-mod=mod

# k8s.io/kubernetes' own go.mod lists the staging modules it pins at v0.0.0;
# go and godebug lines are copied so the wrapper builds with the same semantics.
kmod=$(cd / && GOFLAGS= go list -m -f '{{.GoMod}}' "k8s.io/kubernetes@$VERSION")
[ -s "$kmod" ] || { echo "build-kube-apiserver: no go.mod for k8s.io/kubernetes@$VERSION" >&2; exit 1; }
{
  echo "module kubeapiserverbuild"
  echo
  grep -m1 '^go ' "$kmod"
  grep '^godebug' "$kmod" || true
  echo
  echo "require k8s.io/kubernetes $VERSION"
  echo
  echo "replace ("
  grep -E '^[[:space:]]+k8s\.io/[a-z0-9-]+ v0\.0\.0( //.*)?$' "$kmod" | awk '{print $1}' | sort -u |
    while read -r m; do printf '\t%s => %s %s\n' "$m" "$m" "$STAGING"; done
  echo ")"
} > go.mod.tmp
mv go.mod.tmp go.mod

ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=$VERSION -X $p.gitMajor=1 -X $p.gitMinor=$MINOR"
done
ld="$ld -X k8s.io/component-base/version.gitTreeState=clean"

echo "build-kube-apiserver: building $VERSION in $MOD (about 10 min on 2 cores)" >&2
go build -trimpath -ldflags "$ld" -o "$BIN.tmp" k8s.io/kubernetes/cmd/kube-apiserver
mv "$BIN.tmp" "$BIN"
"$BIN" --version >&2
echo "$BIN"
