#!/usr/bin/env bash
# Inventory against etcdctl on keyspaces laid out like real ones, side by side
# in one run (issue 14).
#
# For every layout in BENCH_LAYOUTS and size in BENCH_SIZES it starts one etcd
# member (BENCH_ETCD_VERSION, default v3.7.3, the version go.mod links, from
# scripts/build-etcd.sh) on a copy of a data dir seeded once by
# scripts/benchseed and cached stopped under
# ~/.cache/etcdmedic/bench/ (seeding 1M keys of 1 KB takes minutes on a
# small machine; copying the cache takes seconds), then runs BENCH_ROUNDS
# rounds alternating (the order flips every other round)
#   inventory-keys-only  etcdmedic inventory --keys-only -o json
#   etcdctl-keys-only    etcdctl get "" --prefix --keys-only
#   control-keys-only    etcdctl get "" --prefix --keys-only again (what two runs of one tool differ by)
#   inventory            etcdmedic inventory -o json (values too)
#   etcdctl              etcdctl get "" --prefix
# measured by scripts/benchlib.sh: wall, the tool's CPU, etcd's own
# process_cpu_seconds_total before and after, peak private (RssAnon) and
# file-backed (RssFile) RSS, peak total RSS, load. Layouts (scripts/benchseed):
#   longtail  3,000 namespaces with a long tail of sizes, grouped resources and
#             CRDs, cluster-scoped resources, a few non-Kubernetes keys (pods
#             are real protobuf Pods, so bench-purge.sh scans the same data)
#   fewlarge  the same resources in 8 large namespaces
#   flat      top-level non-Kubernetes keys, no hierarchy
# Targets: keys-only wall <= 1.1x etcdctl's, etcd CPU <= 1.5x, peak RSS
# <= 48 MB at every size (the private part judged beside it: the file-backed
# part is the binary's pages, as many as `etcdmedic version` maps); with values wall <= 1.1x and RSS <= 0.1x etcdctl's;
# wall(largest size) <= 11 x wall(smallest) when the sizes differ tenfold.
# The last table has one line per layout, size and mode. It fails if an
# inventory does not count exactly the keys seeded.
#
#   scripts/bench-inventory.sh                                   # longtail, 300k keys, 3 rounds
#   BENCH_LAYOUTS="longtail fewlarge flat" BENCH_SIZES="100000 1000000" BENCH_ROUNDS=3 scripts/bench-inventory.sh
#   BENCH_MODES=keys-only BENCH_ETCD_VERSION=v3.6.16 scripts/bench-inventory.sh   # etcd without RangeStream
#   BENCH_SIZES=3000 BENCH_ROUNDS=1 BENCH_LOCK=0 scripts/bench-inventory.sh      # the smoke run
#   BENCH_INVENTORY_ARGS="--page-size 10000" scripts/bench-inventory.sh          # flags added to every inventory
#   BENCH_BASE_BIN=/tmp/old-etcdmedic scripts/bench-inventory.sh                 # before/after: that build too, as inventory-base
#
# Not part of `go test ./...` (the smoke run is). Runs under the shared lock
# /tmp/etcdmedic-bench.lock (BENCH_LOCK=0: not).
set -euo pipefail
. "$(dirname "$0")/benchlib.sh"
bench_lock "$@" # before the cd: it runs "$0" again
cd "$(dirname "$0")/.."

LAYOUTS=${BENCH_LAYOUTS:-longtail}
SIZES=${BENCH_SIZES:-300000}
MODES=${BENCH_MODES:-keys-only values}
VALUE=${BENCH_VALUE:-1000}
ROUNDS=${BENCH_ROUNDS:-3}
VER=${BENCH_ETCD_VERSION:-v3.7.3}
CACHE="${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}"
BIN=$CACHE/etcd/$VER/bin
[ -x "$BIN/etcdctl" ] && [ -x "$BIN/etcd" ] || scripts/build-etcd.sh "$VER" >/dev/null
SEEDS=$CACHE/bench

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-inventory.XXXXXX")
export BENCH_WORK=$work
etcd_pid=
cleanup() {
  bench_stop_etcd
  rm -rf "$work"
}
trap cleanup EXIT

em=$(bench_release_etcdmedic "$work/etcdmedic")
go build -o "$work/benchseed" ./scripts/benchseed

# data_dir LAYOUT KEYS: a fresh copy of the seeded data dir in $work/data,
# seeding (without fsync, then stopped and cached) on the first use.
data_dir() {
  local layout=$1 keys=$2 seeded cached start pods=
  cached=$SEEDS/inventory-$layout-$keys-x$VALUE-$VER
  rm -rf "$work/data"
  if [ ! -d "$cached" ]; then
    [ "$layout" = longtail ] && pods=-pods
    start=$(date +%s)
    bench_start_etcd "$work/data" --unsafe-no-fsync
    seeded=$("$work/benchseed" -endpoint "$ep" -keys "$keys" -value-size "$VALUE" -layout "$layout" $pods)
    [ "$seeded" = "$keys" ] || { echo "benchseed wrote $seeded keys, want $keys" >&2; exit 1; }
    bench_stop_etcd
    mkdir -p "$SEEDS"
    cp -a "$work/data" "$cached.tmp.$$" && mv "$cached.tmp.$$" "$cached"
    echo "seeded $seeded keys ($layout) of $VALUE bytes in $(($(date +%s) - start)) s; cached in $cached"
  else
    cp -a "$cached" "$work/data"
  fi
}

# count_check FILE KEYS: the inventory's JSON counted exactly KEYS keys.
count_check() {
  local got
  got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["keys"])' "$1")
  [ "$got" = "$2" ] || { echo "inventory counted $got keys, want $2" >&2; exit 1; }
}

table=$work/table
: >"$table"
for layout in $LAYOUTS; do
  for keys in $SIZES; do
    echo
    echo "== $layout, $keys keys of $VALUE bytes, etcd $VER"
    data_dir "$layout" "$keys"
    bench_start_etcd "$work/data"
    export BENCH_ETCD_METRICS=$ep/metrics
    bench_init
    ctl=("$BIN/etcdctl" --endpoints "$ep" --command-timeout 30m)
    inv=("$em" inventory -o json --endpoints "$ep" --command-timeout 1m)
    # shellcheck disable=SC2206 # extra flags, split on purpose
    inv+=(${BENCH_INVENTORY_ARGS:-})
    base=()
    if [ -n "${BENCH_BASE_BIN:-}" ]; then base=("$BENCH_BASE_BIN" "${inv[@]:1}"); fi
    for r in $(seq "$ROUNDS"); do
      for mode in $MODES; do
        case $mode in
        keys-only) a=(inventory-keys-only "${inv[@]}" --keys-only) b=(etcdctl-keys-only "${ctl[@]}" get "" --prefix --keys-only) ;;
        values) a=(inventory "${inv[@]}") b=(etcdctl "${ctl[@]}" get "" --prefix) ;;
        *) echo "BENCH_MODES: unknown mode $mode (keys-only, values)" >&2; exit 64 ;;
        esac
        if ((r % 2)); then first=a; else first=b; fi
        for who in $first $([ $first = a ] && echo b || echo a); do
          if [ $who = a ]; then
            BENCH_STDOUT=$work/out bench_run "${a[@]}"
            count_check "$work/out" "$keys"
          else
            bench_run "${b[@]}"
          fi
        done
        if [ "$mode" = keys-only ]; then
          bench_run control-keys-only "${ctl[@]}" get "" --prefix --keys-only
        fi
        if ((${#base[@]})); then
          if [ "$mode" = keys-only ]; then
            BENCH_STDOUT=$work/out bench_run inventory-base-keys-only "${base[@]}" --keys-only
          else
            BENCH_STDOUT=$work/out bench_run inventory-base "${base[@]}"
          fi
          count_check "$work/out" "$keys"
        fi
      done
    done
    bench_summary
    for mode in $MODES; do
      if [ "$mode" = keys-only ]; then
        bench_ratio inventory-keys-only etcdctl-keys-only 1.1
        bench_ratio inventory-keys-only etcdctl-keys-only 1.5 etcd_cpu
        bench_ratio control-keys-only etcdctl-keys-only -
        bench_ratio control-keys-only etcdctl-keys-only - etcd_cpu
      else
        bench_ratio inventory etcdctl 1.1
        bench_ratio inventory etcdctl 0.1 maxrss
        bench_ratio inventory etcdctl - anon
      fi
      if ((${#base[@]})); then
        if [ "$mode" = keys-only ]; then
          bench_ratio inventory-keys-only inventory-base-keys-only -
          bench_ratio inventory-keys-only inventory-base-keys-only - maxrss
        else
          bench_ratio inventory inventory-base -
          bench_ratio inventory inventory-base - maxrss
        fi
      fi
    done
    sed "s/^/$layout\t$keys\t/" "$BENCH_RESULTS" >>"$table"
    bench_stop_etcd
    rm -rf "$work/data"
  done
done

# One line per layout, size and mode: ratios of medians, the RSS targets,
# and the growth of the wall time from the smallest size to each larger one.
echo
echo "etcd $VER, $VALUE-byte values, $ROUNDS rounds, load now $(bench_load), $(nproc) cores"
python3 - "$table" <<'EOF'
import statistics, sys
COLS = ["wall", "cpu", "etcd_cpu", "anon", "file", "maxrss", "load"]
runs = {}
for l in open(sys.argv[1]):
    f = l.rstrip("\n").split("\t")
    runs.setdefault((f[0], int(f[1]), f[2]), []).append(dict(zip(COLS, map(float, f[3:]))))
def med(k, c):
    vs = [r[c] for r in runs.get(k, []) if r[c] == r[c]]
    return statistics.median(vs) if vs else float("nan")
def rng(k, c):
    vs = [r[c] for r in runs[k]]
    return f"{min(vs):.2f}–{max(vs):.2f}"
def verdict(ok):
    return "met" if ok else "MISSED"
print(f"  {'layout':9} {'keys':>8} {'mode':19} {'wall s (min–max)':>22} {'ratio':>6} {'etcd cpu':>9} {'ratio':>6} "
      f"{'rss max':>8} {'anon':>6} {'file':>6} {'ref rss':>8}  verdicts")
smallest = {}
for layout, keys, name in sorted(runs):
    smallest[layout] = min(smallest.get(layout, keys), keys)
for layout, keys, name in sorted(runs, key=lambda k: (k[0], k[1], k[2])):
    ref = {"inventory-keys-only": "etcdctl-keys-only", "inventory": "etcdctl",
           "inventory-base-keys-only": "etcdctl-keys-only", "inventory-base": "etcdctl"}.get(name)
    if not ref:
        continue
    k, rk = (layout, keys, name), (layout, keys, ref)
    w, rw = med(k, "wall"), med(rk, "wall")
    c, rc = med(k, "etcd_cpu"), med(rk, "etcd_cpu")
    m, rm = med(k, "maxrss"), med(rk, "maxrss")
    wr, cr = w / rw, (c / rc if rc > 0 else float("nan"))
    vs = [f"wall<=1.1x {verdict(wr <= 1.1)}"]
    keysonly = name.endswith("keys-only")
    if keysonly:
        # Private memory is what the command allocates; file-backed is the
        # binary's own pages (etcdmedic version has as many).
        vs += [f"etcd cpu<=1.5x {verdict(cr <= 1.5)}", f"rss<=48MB {verdict(m <= 48)} (private {verdict(med(k, 'anon') <= 48)})"]
    else:
        vs += [f"rss<=0.1x {verdict(m <= 0.1 * rm)} ({m / rm:.2f}x; anon {med(k, 'anon') / med(rk, 'anon'):.2f}x)"]
    s = smallest[layout]
    if keys >= 10 * s and (layout, s, name) in runs:
        g = w / med((layout, s, name), "wall")
        vs.append(f"wall({keys})/wall({s})={g:.1f} <={11 * keys // (10 * s)} {verdict(g <= 11 * keys / (10 * s))}")
        # The control: how etcdctl's wall and etcd's own CPU grew over the
        # same sizes in the same run (a growth etcd itself shows is not ours).
        sk, srk = (layout, s, name), (layout, s, ref)
        vs.append(f"control: etcdctl wall {rw / med(srk, 'wall'):.1f}x, etcd cpu {c / med(sk, 'etcd_cpu'):.1f}x "
                  f"(under etcdctl {rc / med(srk, 'etcd_cpu'):.1f}x)")
    mode = ("keys-only" if keysonly else "values") + (" (base)" if "-base" in name else "")
    print(f"  {layout:9} {keys:8} {mode:19} "
          f"{w:8.3f} ({rng(k, 'wall'):>12}) {wr:5.2f}x {c:8.2f}s {cr:5.2f}x {m:7.1f}M {med(k, 'anon'):5.1f}M "
          f"{med(k, 'file'):5.1f}M {rm:7.1f}M  " + ", ".join(vs))
EOF
