#!/usr/bin/env bash
# Stale-pod purge benchmarks (issues 6 and 14), two parts.
#
# 1. The scan (BENCH_SCAN=1, the default): on the long-tail layout of
#    scripts/bench-inventory.sh (BENCH_KEYS keys, default 1,000,000, of which
#    about a fifth are real protobuf Pods under /registry/pods/; the data dir
#    seeded once by scripts/benchseed and cached under ~/.cache/etcdmedic/bench/,
#    the same cache bench-inventory.sh uses), one etcd BENCH_ETCD_VERSION
#    (default v3.7.3) member, BENCH_ROUNDS rounds (default 3) alternating
#      purge-scan      etcdmedic breakglass purge-pods --dry-run -o json (reads and decodes every pod)
#      pods-keys-only  etcdctl get /registry/pods/ --prefix --keys-only (one range, keys only)
#      pods-values     etcdctl get /registry/pods/ --prefix (one range, values too: what the scan must read)
#    measured by scripts/benchlib.sh (etcd's own process_cpu_seconds_total
#    before and after each). Target: purge-scan's etcd CPU <= 1.5x pods-keys-only.
# 2. The purge (BENCH_PURGE=1, the default): the Go benchmark BenchmarkPurge200k,
#    200,000 pods plus decoys on a one-member playground, side by side:
#      ours-inprocess  breakglass.Purge, --rate unlimited, one pod modified between read and delete
#      reference       a plain paged keys-only read + unconditional deletes in 128-op transactions
#      cli             etcdmedic breakglass purge-pods --yes --rate 0 as a child process (peak RSS)
#      per-request     one Delete RPC per key (first 5,000 matching keys)
#    It fails unless exactly the matching pods go, every decoy survives, the
#    modified pod survives and the archive restores the rest, and if the CLI's
#    peak RSS exceeds 150 MB. Target (issue 14): ours/ref128 >= 2 (the plain paged delete).
#
#   scripts/bench-purge.sh                                  # both parts
#   BENCH_PURGE=0 BENCH_KEYS=100000 scripts/bench-purge.sh  # the scan only, 100k keys
#
# Not part of `go test ./...`. Runs under the shared lock /tmp/etcdmedic-bench.lock
# (BENCH_LOCK=0: not). Extra arguments go to `go test` of part 2.
set -euo pipefail
. "$(dirname "$0")/benchlib.sh"
bench_lock "$@" # before the cd: it runs "$0" again
cd "$(dirname "$0")/.."

KEYS=${BENCH_KEYS:-1000000}
ROUNDS=${BENCH_ROUNDS:-3}
VER=${BENCH_ETCD_VERSION:-v3.7.3}
CACHE="${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}"
BIN=$CACHE/etcd/$VER/bin

if [ "${BENCH_SCAN:-1}" = 1 ]; then
  [ -x "$BIN/etcdctl" ] && [ -x "$BIN/etcd" ] || scripts/build-etcd.sh "$VER" >/dev/null
  work=$(mktemp -d "${TMPDIR:-/tmp}/bench-purge.XXXXXX")
  export BENCH_WORK=$work
  etcd_pid=
  trap 'bench_stop_etcd; rm -rf "$work"' EXIT
  em=$(bench_release_etcdmedic "$work/etcdmedic")
  go build -o "$work/benchseed" ./scripts/benchseed
  # The data dir bench-inventory.sh caches for the same layout and size.
  cached=$CACHE/bench/inventory-longtail-$KEYS-x1000-$VER
  if [ ! -d "$cached" ]; then
    bench_start_etcd "$work/data" --unsafe-no-fsync
    seeded=$("$work/benchseed" -endpoint "$ep" -keys "$KEYS" -value-size 1000 -layout longtail -pods)
    [ "$seeded" = "$KEYS" ] || { echo "benchseed wrote $seeded keys, want $KEYS" >&2; exit 1; }
    bench_stop_etcd
    mkdir -p "$CACHE/bench"
    cp -a "$work/data" "$cached.tmp.$$" && mv "$cached.tmp.$$" "$cached"
    rm -rf "$work/data"
  fi
  cp -a "$cached" "$work/data"
  bench_start_etcd "$work/data"
  export BENCH_ETCD_METRICS=$ep/metrics
  echo "== purge-pods scan: longtail, $KEYS keys, etcd $VER"
  bench_init
  ctl=("$BIN/etcdctl" --endpoints "$ep" --command-timeout 30m get /registry/pods/ --prefix)
  scan=("$em" breakglass purge-pods --dry-run -o json --endpoints "$ep" --command-timeout 1m --state-dir "$work/state")
  for r in $(seq "$ROUNDS"); do
    if ((r % 2)); then
      BENCH_STDOUT=$work/scan.json bench_run purge-scan "${scan[@]}"
      bench_run pods-keys-only "${ctl[@]}" --keys-only
    else
      bench_run pods-keys-only "${ctl[@]}" --keys-only
      BENCH_STDOUT=$work/scan.json bench_run purge-scan "${scan[@]}"
    fi
    bench_run pods-values "${ctl[@]}"
  done
  pods=$("$BIN/etcdctl" --endpoints "$ep" get /registry/pods/ --prefix --count-only -w fields | awk '/"Count"/ { print $NF }')
  python3 - "$work/scan.json" "$pods" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"scan read {r['scanned']} of {sys.argv[2]} pods, {r['matched']} would go")
if str(r["scanned"]) != sys.argv[2]:
    sys.exit("purge-scan did not read every pod")
EOF
  bench_summary
  bench_ratio purge-scan pods-keys-only 1.5 etcd_cpu
  bench_ratio purge-scan pods-values - etcd_cpu
  bench_ratio purge-scan pods-values - wall
  bench_stop_etcd
fi

if [ "${BENCH_PURGE:-1}" = 1 ]; then
  echo "== purge: BenchmarkPurge200k"
  go test ./breakglass -run '^$' -bench Purge200k -benchtime 1x -timeout 60m -v "$@"
fi
