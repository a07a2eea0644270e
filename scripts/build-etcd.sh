#!/usr/bin/env bash
# Build real etcd release binaries (etcd, etcdctl, etcdutl) from the Go module
# proxy, for the compatibility matrix and for benchmarks against the reference
# tools. `go install pkg@version` refuses etcd's modules (they carry replace
# directives), so each version is built from a throwaway module instead.
#
#   scripts/build-etcd.sh                  # the pinned newest patch of 3.5, 3.6, 3.7
#   scripts/build-etcd.sh v3.6.10 v3.5.21  # any versions the proxy serves
#
# Binaries land in ${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}/etcd/<version>/bin
# and are reused while `etcd --version` still reports that version.
set -euo pipefail

DEFAULT_VERSIONS=(v3.5.35 v3.6.16 v3.7.3)
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=("${DEFAULT_VERSIONS[@]}")
cache="${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}/etcd"

failed=()
for v in "${versions[@]}"; do
  bin="$cache/$v/bin"
  if [ -x "$bin/etcd" ] && [ -x "$bin/etcdctl" ] && [ -x "$bin/etcdutl" ] &&
     "$bin/etcd" --version 2>/dev/null | grep -q "etcd Version: ${v#v}\$"; then
    echo "etcd $v: cached in $bin"
    continue
  fi
  echo "etcd $v: building into $bin"
  start=$(date +%s)
  work=$(mktemp -d)
  mkdir -p "$bin"
  if (
    cd "$work"
    go mod init etcdmedic-build-etcd >/dev/null 2>&1
    # etcd 3.5/3.6's etcdutl needs the old tablewriter API; this module is
    # isolated, so whatever the release itself pins is what gets used.
    go get "go.etcd.io/etcd/server/v3@$v" "go.etcd.io/etcd/etcdctl/v3@$v" "go.etcd.io/etcd/etcdutl/v3@$v" >/dev/null 2>&1
    ldflags="-s -w"
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin/etcd" go.etcd.io/etcd/server/v3
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin/etcdctl" go.etcd.io/etcd/etcdctl/v3
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin/etcdutl" go.etcd.io/etcd/etcdutl/v3
  ) > "$work.log" 2>&1; then
    echo "etcd $v: built in $(( $(date +%s) - start ))s: $("$bin/etcd" --version | head -1)"
  else
    echo "etcd $v: BUILD FAILED (log below)" >&2
    tail -20 "$work.log" >&2
    failed+=("$v")
  fi
  rm -rf "$work" "$work.log"
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "failed to build: ${failed[*]}" >&2
  exit 1
fi
