#!/usr/bin/env bash
# Build etcdmedic's container image without a container daemon and without
# pulling a base image: scripts/imagebuild (go-containerregistry, a module of
# its own) builds static binaries (CGO_ENABLED=0) for each platform: the
# release etcdmedic and, beside it in /usr/local/bin (the image's PATH),
# etcd's own etcd and etcdutl at the version go.mod pins, which the release
# etcdmedic runs for playground, snapshot drill/restore and breakglass
# defrag-offline. It puts them in a from-scratch layer with Debian's CA
# bundle, passwd/group for the non-root user 65532 and
# ENTRYPOINT ["etcdmedic"], and writes a multi-arch OCI index.
#
#   scripts/build-image.sh                    # VERSION from git describe, into dist/image
#   scripts/build-image.sh v0.4.0 /tmp/img    # version, output directory
#
# Output (the directory is replaced):
#   oci/                        OCI image layout (index: linux/amd64, linux/arm64)
#   etcdmedic-oci.tar           the same layout as one archive
#                               (skopeo copy --all oci-archive:...; podman 4.3
#                               cannot load a two-platform archive)
#   etcdmedic-linux-<arch>.docker.tar   per platform, for `docker load -i` and
#                               `podman load -i` (the test runs it under podman)
#   bin/linux-<arch>/           the binaries in the image (etcdmedic, etcd, etcdutl)
# Push with any registry client, e.g.
#   skopeo copy --all oci:dist/image/oci docker://ghcr.io/etcdmedic/etcdmedic:v0.4.0
#
# etcd and etcdutl are built once per etcd version, platform and Go
# toolchain/go.mod/go.sum, from the Go module proxy, and cached under
# ${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}/etcd-image/.
#
# Environment: PLATFORMS (default linux/amd64,linux/arm64), SOURCE_DATE_EPOCH
# (default: the commit time, so two builds of one commit are identical),
# ETCDMEDIC_CACHE.
# Exit status: 0 built, 1 failed, 64 usage error.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;; esac
cd "$(dirname "$0")/.."

VERSION=${1:-${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}}
OUT=${2:-dist/image}
COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
[ -r /etc/ssl/certs/ca-certificates.crt ] || {
  echo "build-image: /etc/ssl/certs/ca-certificates.crt is missing (apt-get install ca-certificates)" >&2; exit 1; }
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac

cd scripts/imagebuild
exec go run . -repo ../.. -out "$OUT" -version "$VERSION" -commit "$COMMIT" \
  -platforms "${PLATFORMS:-linux/amd64,linux/arm64}"
