#!/usr/bin/env bash
# Quorum-loss recovery benchmarks (issue 16), each in one run under the shared
# benchmark lock:
#
#   survivors       etcdmedic breakglass survivors on three ~1 GB data dirs of
#                   one cluster's members stopped at different moments: wall
#                   time and peak RSS of the process (target ≤ 2 s, ≤ 64 MB),
#                   warm and cold page cache, beside 'etcdmedic version' (the
#                   binary's start-up floor) and the whole-WAL replay it replaced.
#   defrag-offline  etcdmedic breakglass defrag-offline vs etcdutl defrag
#                   --data-dir (v3.7.3, the server version go.mod links) on
#                   fresh copies of one ≥ 40 % fragmented ~1 GB member file,
#                   alternating, with etcdutl against itself as the control
#                   (target ≥ 0.95× etcdutl's throughput).
#
#   scripts/bench-breakglass.sh                    # both
#   scripts/bench-breakglass.sh survivors          # one
#   BENCH_SURVIVORS_ROUNDS=9 BENCH_DEFRAG_OFFLINE_ROUNDS=5 scripts/bench-breakglass.sh
#
# The data is built once by real etcd members (the linked server code) and
# cached under ~/.cache/etcdmedic/bench (about 5 GB for survivors, 1 GB for
# defrag-offline; BENCH_SURVIVORS_MB / BENCH_DEFRAG_OFFLINE_MB change the size).
# Needs etcdutl v3.7.3 (scripts/build-etcd.sh puts it in ~/.cache/etcdmedic) or
# BENCH_ETCDUTL=/path/to/etcdutl, and GNU time (/usr/bin/time) for the exact
# peak RSS (without it the sampled VmHWM is reported).
set -euo pipefail
cd "$(dirname "$0")/.."

which=("$@")
[ ${#which[@]} -gt 0 ] || which=(survivors defrag-offline)
pattern=()
for w in "${which[@]}"; do
  case "$w" in
    survivors) pattern+=("BenchmarkSurvivors") ;;
    defrag-offline) pattern+=("BenchmarkDefragOffline") ;;
    *) echo "bench-breakglass: unknown benchmark $w (survivors, defrag-offline)" >&2; exit 64 ;;
  esac
done
re="^($(IFS='|'; echo "${pattern[*]}"))\$"
# The binary measured is the release build (goreleaser.yaml's flags: slim,
# stripped), what users run: its own pages count in its RSS. ETCDMEDIC_BIN
# overrides it (the suite's smoke run passes the test build).
if [ -z "${ETCDMEDIC_BIN:-}" ]; then
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  CGO_ENABLED=0 go build -trimpath -tags slim,grpcnotrace -ldflags '-s -w' -o "$work/etcdmedic" ./cmd/etcdmedic
  export ETCDMEDIC_BIN="$work/etcdmedic"
fi
echo "binary: $ETCDMEDIC_BIN ($(stat -c %s "$ETCDMEDIC_BIN") bytes)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
lock=(flock /tmp/etcdmedic-bench.lock)
[ "${BENCH_LOCK:-1}" = 0 ] && lock=()
# BENCH_ASSERT=0 reports the figures without judging them (the suite's smoke run).
"${lock[@]}" env ETCDMEDIC_BENCH_ASSERT="${BENCH_ASSERT:-1}" \
  go test -run '^$' -bench "$re" -benchtime 1x -count 1 -timeout 90m -v ./breakglass/
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
