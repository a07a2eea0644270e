#!/usr/bin/env bash
# How fast the CLI starts and answers, against etcdctl, in one run (issue 14).
#
# Builds etcdmedic twice — the release build (as goreleaser.yaml builds it:
# CGO_ENABLED=0, -trimpath, -tags slim,grpcnotrace, -s -w; no embedded etcd
# server, no Google/Azure SDKs) and the full build — starts a 3-member
# playground of etcd v3.7.3 release binaries (seeded, so the members' /metrics
# carry the gRPC series a used cluster has), then runs BENCH_ROUNDS rounds
# (default 20), the order flipping every other round, of
#   <build>-status   etcdmedic status -o json
#   etcdctl-status   etcdctl endpoint status --cluster -w json
#   control-status   etcdctl endpoint status --cluster -w json again (what two runs of one tool differ by)
#   <build>-version  etcdmedic version
#   etcdctl-version  etcdctl version
#   control-version  etcdctl version again
#   etcdutl-version  etcdutl version (etcd's tool that links the etcd server
#                    packages the release build leaves out: what their
#                    initialisation costs a Go CLI's start)
# measured by scripts/benchlib.sh (wall, CPU, the members' own
# process_cpu_seconds_total before and after — status also reads every
# member's /metrics, etcdctl does not — private and file-backed RSS, load).
# Then the package initialisation Go reports (GODEBUG=inittrace=1, summed over
# packages, median of 5) and the ratios of medians against the targets:
# status wall <= 1.3x, version wall <= 1.5x etcdctl's.
#
#   scripts/bench-startup.sh
#   BENCH_ROUNDS=50 scripts/bench-startup.sh
#   ETCDMEDIC_BASELINE=/path/to/old/etcdmedic scripts/bench-startup.sh   # an older build beside them
#   ETCDMEDIC_BIN=/path/to/etcdmedic BENCH_ROUNDS=1 BENCH_LOCK=0 scripts/bench-startup.sh   # the smoke run
#
# Not part of `go test ./...` (the smoke run is). About a minute plus the
# builds. Runs under the shared lock /tmp/etcdmedic-bench.lock (BENCH_LOCK=0: not).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/benchlib.sh
bench_lock "$@"

ROUNDS=${BENCH_ROUNDS:-20}
CACHE="${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}/etcd/v3.7.3/bin"
[ -x "$CACHE/etcdctl" ] && [ -x "$CACHE/etcd" ] && [ -x "$CACHE/etcdutl" ] || scripts/build-etcd.sh v3.7.3 >/dev/null
ctl=$CACHE/etcdctl
utl=$CACHE/etcdutl

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-startup.XXXXXX")
export BENCH_WORK=$work
pg_pid=
cleanup() {
  if [ -n "$pg_pid" ]; then
    kill -TERM "$pg_pid" 2>/dev/null || true
    wait "$pg_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# name=binary, the release build first. Static, as goreleaser's CGO_ENABLED=0
# builds it: a cgo build is linked dynamically and starts ~3 ms slower
# (ld.so, libc's thread start-up), which users of the release never pay.
export CGO_ENABLED=0
builds=()
if [ -n "${ETCDMEDIC_BIN:-}" ]; then
  builds+=("etcdmedic=$ETCDMEDIC_BIN")
else
  builds+=("slim=$(bench_release_etcdmedic "$work/etcdmedic-slim")" "full=$(bench_etcdmedic "$work/etcdmedic")")
fi
[ -n "${ETCDMEDIC_BASELINE:-}" ] && builds+=("baseline=$ETCDMEDIC_BASELINE")
for b in "${builds[@]}"; do
  cgo=$(go version -m "${b#*=}" 2>/dev/null | sed -n 's/.*CGO_ENABLED=//p')
  printf '%-10s %6.1f MB  %s  CGO_ENABLED=%s%s\n' "${b%%=*}" "$(stat -c %s "${b#*=}" | awk '{ print $1 / 1e6 }')" "${b#*=}" \
    "${cgo:-?}" "$([ "$cgo" = 1 ] && echo '  (dynamically linked: not what goreleaser ships)')"
done

em=${builds[0]#*=}
"$em" playground --etcd-binary "$CACHE/etcd" --base-port 0 --seed >"$work/pg.out" 2>"$work/pg.err" &
pg_pid=$!
for _ in $(seq 1200); do
  grep -q "^endpoints:" "$work/pg.out" 2>/dev/null && break
  kill -0 "$pg_pid" 2>/dev/null || break
  sleep 0.1
done
ep=$(sed -n 's/^endpoints: //p' "$work/pg.out")
[ -n "$ep" ] || { echo "playground did not start:" >&2; cat "$work/pg.err" >&2; exit 1; }
metrics=$(tr ',' '\n' <<<"$ep" | sed 's|$|/metrics|' | tr '\n' ' ')
echo "3 members of etcd v3.7.3: $ep"
bench_init

status() {
  local b
  for b in "${builds[@]}"; do
    BENCH_OK_EXIT="0 1" bench_run "${b%%=*}-status" "${b#*=}" status -o json --endpoints "$ep"
  done
}
ctl_status() { bench_run "$1-status" "$ctl" endpoint status --cluster -w json --endpoints "$ep"; }
version() {
  local b
  for b in "${builds[@]}"; do bench_run "${b%%=*}-version" "${b#*=}" version; done
}
for r in $(seq "$ROUNDS"); do
  echo "round $r (load $(bench_load))"
  BENCH_ETCD_METRICS=$metrics
  export BENCH_ETCD_METRICS
  if ((r % 2)); then status; ctl_status etcdctl; ctl_status control; else ctl_status etcdctl; ctl_status control; status; fi
  BENCH_ETCD_METRICS= # version talks to no member
  if ((r % 2)); then version; bench_run etcdctl-version "$ctl" version; bench_run control-version "$ctl" version; bench_run etcdutl-version "$utl" version
  else bench_run etcdutl-version "$utl" version; bench_run etcdctl-version "$ctl" version; bench_run control-version "$ctl" version; version; fi
done
bench_summary

# Package initialisation, as Go reports it (etcdctl is Go too).
echo
echo "package init (GODEBUG=inittrace=1, sum over packages, median of 5):"
init_ms() {
  for _ in 1 2 3 4 5; do
    GODEBUG=inittrace=1 "$@" 2>&1 >/dev/null | awk '/^init / { s += $5 } END { printf "%.2f\n", s }'
  done | sort -n | sed -n 3p
}
for b in "${builds[@]}"; do printf '  %-10s %6s ms\n' "${b%%=*}" "$(init_ms "${b#*=}" version)"; done
printf '  %-10s %6s ms\n' etcdctl "$(init_ms "$ctl" version)"
printf '  %-10s %6s ms\n' etcdutl "$(init_ms "$utl" version)"

echo
for b in "${builds[@]}"; do
  n=${b%%=*}
  t13=1.3 t15=1.5
  [ "$n" = baseline ] && t13=- t15=-
  bench_ratio "$n-status" etcdctl-status "$t13"
  bench_ratio "$n-status" etcdctl-status - cpu
  bench_ratio "$n-status" etcdctl-status - etcd_cpu
  bench_ratio "$n-version" etcdctl-version "$t15"
  bench_ratio "$n-version" etcdctl-version - cpu
done
bench_ratio control-status etcdctl-status -
bench_ratio control-version etcdctl-version -
bench_ratio etcdutl-version etcdctl-version -
