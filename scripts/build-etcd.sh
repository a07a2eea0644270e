#!/usr/bin/env bash
# Build real etcd release binaries (etcd, etcdctl, etcdutl) from the Go module
# proxy, for the compatibility matrix and for benchmarks against the reference
# tools. Only the module proxy is assumed reachable, so nothing prebuilt is
# ever downloaded.
#
#   scripts/build-etcd.sh                   # the pinned versions below
#   scripts/build-etcd.sh v3.6.10 v3.5.21   # any versions the proxy serves
#   scripts/build-etcd.sh v3.6              # newest v3.6.x the proxy lists
#   scripts/build-etcd.sh --latest          # newest patch of each pinned line
#
# Binaries land in ${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}/etcd/<version>/bin
# and are reused while each still reports that version, so a second run costs
# seconds. The machine's own GOPATH/GOMODCACHE/GOCACHE are used on purpose:
# module downloads and compiled packages are shared across runs and versions.
#
# Exit status: 0 when every requested version is available, 1 when any failed
# (the others are still built), 64 on a usage error.
set -euo pipefail

# Newest patch of each line on the module proxy when last pinned; refresh with
#   go list -m -versions go.etcd.io/etcd/server/v3
# or run with --latest. Pinned so that a plain run never needs the network
# once the cache is warm, and so CI builds the same thing every time.
ETCD_V35=v3.5.35
ETCD_V36=v3.6.16
ETCD_V37=v3.7.3 # the version go.mod links; keep them in step
DEFAULT_VERSIONS=("$ETCD_V35" "$ETCD_V36" "$ETCD_V37")

CACHE="${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}/etcd"
SERVER=go.etcd.io/etcd/server/v3
ETCDCTL=go.etcd.io/etcd/etcdctl/v3
ETCDUTL=go.etcd.io/etcd/etcdutl/v3

usage() {
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 64
}

command -v go >/dev/null || { echo "build-etcd: go is not on PATH" >&2; exit 1; }

# newest_patch v3.6 -> v3.6.16, from what the proxy lists for the server module.
newest_patch() {
  go list -m -versions "$SERVER" | tr ' ' '\n' |
    grep -E "^${1//./\\.}\.[0-9]+$" | sort -V | tail -1
}

versions=()
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage ;;
    --latest)
      for v in "${DEFAULT_VERSIONS[@]}"; do
        versions+=("${v%.*}")
      done
      ;;
    -*) echo "build-etcd: unknown flag $arg" >&2; usage ;;
    *) versions+=("v${arg#v}") ;;
  esac
done
[ ${#versions[@]} -gt 0 ] || versions=("${DEFAULT_VERSIONS[@]}")

resolved=()
for v in "${versions[@]}"; do
  if [[ "$v" =~ ^v3\.[0-9]+$ ]]; then
    p=$(GOWORK=off newest_patch "$v") || p=""
    if [ -z "$p" ]; then
      echo "build-etcd: the module proxy lists no $v.x release of $SERVER" >&2
      exit 1
    fi
    echo "etcd $v: newest patch on the proxy is $p"
    v=$p
  elif ! [[ "$v" =~ ^v3\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
    echo "build-etcd: $v is not an etcd v3 version" >&2
    usage
  fi
  resolved+=("$v")
done

# have VERSION BIN: every binary is there and reports VERSION. Checking all
# three (not just etcd) catches a half-finished or hand-edited directory.
have() {
  local want=${1#v} bin=$2
  [ -x "$bin/etcd" ] && [ -x "$bin/etcdctl" ] && [ -x "$bin/etcdutl" ] || return 1
  # grep reads everything (no -q): with pipefail, an early-exiting grep would
  # SIGPIPE the binary and make a good cache look stale.
  "$bin/etcd" --version 2>/dev/null | grep -x "etcd Version: $want" >/dev/null &&
    "$bin/etcdctl" version 2>/dev/null | grep -x "etcdctl version: $want" >/dev/null &&
    "$bin/etcdutl" version 2>/dev/null | grep -x "etcdutl version: $want" >/dev/null
}

# build VERSION STAGE: build the three binaries into STAGE. Runs as an `if`
# condition, where bash ignores set -e, so every step checks itself.
build() {
  local v=$1 stage=$2 mod
  mod=$(mktemp -d "${TMPDIR:-/tmp}/build-etcd-$v.XXXXXX") || return 1
  (
    cd "$mod" || exit 1
    # A throwaway module because `go install pkg@version` refuses etcd's
    # modules (their go.mod files carry replace directives). Only the three
    # etcd modules are required here, so minimal version selection lands on
    # exactly what that release pins, e.g. olekukonko/tablewriter v0.0.5 for
    # 3.5/3.6's etcdutl, whose API v1 broke; etcdmedic's go.mod never sees it.
    export GOWORK=off CGO_ENABLED=0
    go mod init build-etcd.invalid/"${v//./-}" || exit 1
    go get "$SERVER@$v" "$ETCDCTL@$v" "$ETCDUTL@$v" || exit 1
    # CGO_ENABLED=0 and -trimpath as upstream's release build does; fixed
    # flags so the shared GOCACHE serves rebuilds of the same version.
    for pkg in "$SERVER" "$ETCDCTL" "$ETCDUTL"; do
      name=etcd
      [ "$pkg" = "$ETCDCTL" ] && name=etcdctl
      [ "$pkg" = "$ETCDUTL" ] && name=etcdutl
      echo "go build $pkg -> $name"
      go build -mod=mod -trimpath -ldflags "-s -w" -o "$stage/$name" "$pkg" || exit 1
    done
  )
  local rc=$?
  rm -rf "$mod"
  return $rc
}

status=()
failed=()
for v in "${resolved[@]}"; do
  dir="$CACHE/$v"
  bin="$dir/bin"
  mkdir -p "$dir"
  if have "$v" "$bin"; then
    echo "etcd $v: cached: $bin"
    status+=("$v|cached|$bin")
    continue
  fi

  # Two runs (say, parallel CI jobs) must not build into the same place.
  if command -v flock >/dev/null; then
    exec 9>"$dir/.lock"
    flock 9
    if have "$v" "$bin"; then
      echo "etcd $v: built meanwhile by another run: $bin"
      status+=("$v|cached|$bin")
      exec 9>&-
      continue
    fi
  fi

  echo "etcd $v: building into $bin (log: $dir/build.log)"
  stage="$dir/bin.partial"
  rm -rf "$stage"
  mkdir -p "$stage"
  start=$(date +%s)
  if build "$v" "$stage" >"$dir/build.log" 2>&1 && have "$v" "$stage"; then
    # Swap in the whole directory at once: playgroundtest.ReleaseBinaries
    # treats any etcd/<version>/bin/etcd as usable, so a half-built bin/
    # must never be visible under that name.
    rm -rf "$bin"
    mv "$stage" "$bin"
    secs=$(($(date +%s) - start))
    echo "etcd $v: built in ${secs}s: $bin"
    status+=("$v|built in ${secs}s|$bin")
  else
    secs=$(($(date +%s) - start))
    rm -rf "$stage"
    {
      echo "etcd $v: BUILD FAILED after ${secs}s; last lines of $dir/build.log:"
      tail -25 "$dir/build.log" | sed 's/^/    /'
      if grep -q 'requires go >=' "$dir/build.log"; then
        echo "    (this release needs a newer Go than $(go env GOVERSION);" \
          "GOTOOLCHAIN=$(go env GOTOOLCHAIN) — install it or set GOTOOLCHAIN=auto)"
      fi
    } >&2
    failed+=("$v")
    status+=("$v|FAILED|see $dir/build.log")
  fi
  exec 9>&- # releases the lock, if taken
done

echo
echo "etcd release binaries (${CACHE}):"
printf '  %-10s %-16s %s\n' version result bin
for s in "${status[@]}"; do
  IFS='|' read -r v result where <<<"$s"
  printf '  %-10s %-16s %s\n' "$v" "$result" "$where"
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "build-etcd: failed to build: ${failed[*]}" >&2
  exit 1
fi
