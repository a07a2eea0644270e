#!/usr/bin/env bash
# Inventory against etcdctl on a keyspace laid out like a real cluster's, side
# by side in one run (issue 14).
#
# Starts one etcd v3.7.3 member (the release binary scripts/build-etcd.sh
# builds, the version go.mod links), seeds it with scripts/benchseed (BENCH_KEYS
# keys, default 300,000, of BENCH_VALUE bytes, default 1000: 3,000 namespaces
# with a long tail of sizes, grouped resources and CRDs, cluster-scoped
# resources, a few non-Kubernetes keys), then runs BENCH_ROUNDS rounds
# (default 5), each alternating
#   etcdmedic inventory --keys-only -o json   vs  etcdctl get "" --prefix --keys-only
#   etcdmedic inventory -o json               vs  etcdctl get "" --prefix
#   etcdctl get "" --prefix --keys-only       vs  itself (the control: what two
#                                                 runs of one tool differ by)
# For each run: wall time, etcd's own CPU time (utime+stime of the member from
# /proc/<pid>/stat before and after; schedstat's nanoseconds where present,
# as stat counts 10 ms ticks), the tool's peak RSS, and the load average.
# Prints medians with min–max and the ratios against the targets (wall and
# etcd CPU <= 1.25x etcdctl's), "met" or "MISSED" each. It fails if the
# inventory does not count exactly the keys seeded.
#
#   scripts/bench-inventory.sh                      # 300k keys, 5 rounds
#   BENCH_KEYS=20000 BENCH_ROUNDS=1 scripts/bench-inventory.sh   # a smoke run
#   ETCDMEDIC_BASELINE=/path/to/old/etcdmedic scripts/bench-inventory.sh  # also time an older build
#
# Not part of `go test ./...`. Seeding 300k keys of 1 KB takes one to a few
# minutes; run it on an otherwise quiet machine (the load average is printed
# because it rarely is).
set -euo pipefail
cd "$(dirname "$0")/.."

KEYS=${BENCH_KEYS:-300000}
VALUE=${BENCH_VALUE:-1000}
ROUNDS=${BENCH_ROUNDS:-5}
TARGET=1.25
CACHE="${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}/etcd/v3.7.3/bin"
[ -x "$CACHE/etcdctl" ] && [ -x "$CACHE/etcd" ] || scripts/build-etcd.sh v3.7.3 >/dev/null
ETCD=$CACHE/etcd
ETCDCTL=$CACHE/etcdctl

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-inventory.XXXXXX")
etcd_pid=
cleanup() {
  if [ -n "$etcd_pid" ]; then
    kill "$etcd_pid" 2>/dev/null || true
    wait "$etcd_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/etcdmedic" ./cmd/etcdmedic
go build -o "$work/benchseed" ./scripts/benchseed

# Free ports from the kernel, as the playground picks them.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cport=$(port)
pport=$(port)
ep=http://127.0.0.1:$cport
"$ETCD" --name bench --data-dir "$work/data" --listen-client-urls "$ep" --advertise-client-urls "$ep" \
  --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
  --initial-cluster "bench=http://127.0.0.1:$pport" --quota-backend-bytes $((8 << 30)) \
  --log-level error >"$work/etcd.log" 2>&1 &
etcd_pid=$!
for _ in $(seq 100); do
  "$ETCDCTL" --endpoints "$ep" endpoint health >/dev/null 2>&1 && break
  sleep 0.1
done

start=$(date +%s.%N)
seeded=$("$work/benchseed" -endpoint "$ep" -keys "$KEYS" -value-size "$VALUE")
printf 'seeded %d keys of %d bytes in %.0f s; etcd v3.7.3 pid %d\n' "$seeded" "$VALUE" "$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { print e - s }')" "$etcd_pid"
[ "$seeded" = "$KEYS" ] || { echo "benchseed wrote $seeded keys, want $KEYS" >&2; exit 1; }

# etcd's CPU time so far, in nanoseconds.
# schedstat is per thread: sum the member's threads (Go keeps its threads).
cpu_ns() {
  if [ -r "/proc/$etcd_pid/schedstat" ]; then
    cat /proc/"$etcd_pid"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f\n", s }'
  else
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.0f\n", ($12 + $13) * 1e9 / hz }' "/proc/$etcd_pid/stat"
  fi
}
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$etcd_pid/stat"; }

results=$work/results
: >"$results"
# run NAME CMD...: one measured run; appends "NAME wall_s etcd_cpu_s rss_mb".
run() {
  local name=$1 out=$work/out err=$work/err c0 t0 w0 w1 c1 t1 rss
  shift
  # etcdctl's output is not kept (a file of every value would time the disk).
  case $name in inventory* | baseline*) ;; *) out=/dev/null ;; esac
  c0=$(cpu_ns) t0=$(ticks) w0=$(date +%s%N)
  if ! /usr/bin/time -f %M -o "$work/rss" "$@" >"$out" 2>"$err"; then
    echo "$name failed:" >&2
    cat "$err" >&2
    exit 1
  fi
  w1=$(date +%s%N) c1=$(cpu_ns) t1=$(ticks)
  rss=$(tail -1 "$work/rss")
  case $name in inventory*)
    got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["keys"])' "$out")
    [ "$got" = "$KEYS" ] || { echo "$name counted $got keys, want $KEYS" >&2; exit 1; }
    ;;
  esac
  awk -v n="$name" -v w=$((w1 - w0)) -v c=$((c1 - c0)) -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v r="$rss" -v l="$(cut -d' ' -f1 /proc/loadavg)" \
    'BEGIN { printf "  %-22s wall %6.3f s  etcd cpu %6.3f s (stat %5.2f s)  rss %6.1f MB  load %s\n", n, w/1e9, c/1e9, t/hz, r/1024, l }'
  echo "$name $((w1 - w0)) $((c1 - c0)) $rss" >>"$results"
}

ctl=("$ETCDCTL" --endpoints "$ep" --command-timeout 10m)
inv=("$work/etcdmedic" inventory -o json --endpoints "$ep" --command-timeout 1m)
for r in $(seq "$ROUNDS"); do
  echo "round $r (load $(cut -d' ' -f1-3 /proc/loadavg))"
  run inventory-keys-only "${inv[@]}" --keys-only
  run etcdctl-keys-only "${ctl[@]}" get "" --prefix --keys-only
  run inventory "${inv[@]}"
  run etcdctl "${ctl[@]}" get "" --prefix
  run control-keys-only "${ctl[@]}" get "" --prefix --keys-only
  if [ -n "${ETCDMEDIC_BASELINE:-}" ]; then
    run baseline-keys-only "$ETCDMEDIC_BASELINE" inventory -o json --endpoints "$ep" --command-timeout 1m --keys-only
    run baseline "$ETCDMEDIC_BASELINE" inventory -o json --endpoints "$ep" --command-timeout 1m
  fi
done

# Medians (min–max) per contender and the ratios of medians.
echo
echo "$KEYS keys of $VALUE bytes, $ROUNDS rounds, load now $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
awk -v target="$TARGET" '
function median(a, n,   i, j, t) {
  for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
  return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
{ n[$1]++; w[$1, n[$1]] = $2/1e9; c[$1, n[$1]] = $3/1e9; r[$1, n[$1]] = $4/1024 }
END {
  for (k in n) {
    delete a; delete b; delete m
    for (i = 1; i <= n[k]; i++) { a[i] = w[k, i]; b[i] = c[k, i]; m[i] = r[k, i] }
    mw[k] = median(a, n[k]); lo_w = a[1]; hi_w = a[n[k]]
    mc[k] = median(b, n[k]); lo_c = b[1]; hi_c = b[n[k]]
    mr[k] = median(m, n[k])
    printf "  %-22s wall %6.3f s (%.3f–%.3f)  etcd cpu %6.3f s (%.3f–%.3f)  rss %6.1f MB\n", k, mw[k], lo_w, hi_w, mc[k], lo_c, hi_c, mr[k]
  }
  print ""
  split("inventory-keys-only:etcdctl-keys-only inventory:etcdctl control-keys-only:etcdctl-keys-only baseline-keys-only:etcdctl-keys-only baseline:etcdctl", pairs, " ")
  for (p = 1; p in pairs; p++) {
    split(pairs[p], ab, ":")
    if (!(ab[1] in n)) continue
    rw = mw[ab[1]] / mw[ab[2]]; rc = mc[ab[2]] > 0 ? mc[ab[1]] / mc[ab[2]] : 0
    verdict = ab[1] ~ /^(control|baseline)/ ? "(reference)" : ((rw <= target && rc <= target) ? "met" : "MISSED")
    printf "  %-20s / %-18s wall %5.2fx  etcd cpu %5.2fx  target <= %.2fx both: %s\n", ab[1], ab[2], rw, rc, target, verdict
  }
}' "$results"
