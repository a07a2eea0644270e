#!/usr/bin/env bash
# Snapshot save and verify, side by side with the reference tools in one run
# (issue 14), on three value shapes (BENCH_SNAPSHOT_SHAPES, default all three):
#   small  ~1 KB values (flat keys, scripts/benchseed): the bolt walk pays per key
#   32k    32 KiB values
#   1m     1 MiB values (each in a run of overflow pages)
# each a database of ≥ BENCH_SNAPSHOT_MB MB (default 400), seeded once into a
# stopped etcd v3.7.3 data dir cached under ~/.cache/etcdmedic/bench/ (copying
# it takes seconds, seeding minutes). Per shape, BENCH_SNAPSHOT_ROUNDS rounds
# (default 3), the order of the contenders flipping every round, each run
# after a sync (no tool pays for the previous one's writeback):
#   etcdctl-save      etcdctl snapshot save FILE
#   etcdmedic-save    etcdmedic snapshot save DIR       (throughput ≥ 1.0× etcdctl's; private RSS ≤ 64 MB)
#   etcdutl-status    etcdutl snapshot status F         (F: this round's etcdmedic snapshot)
#   etcdmedic-verify  etcdmedic snapshot verify F       (wall ≤ 1.0× etcdutl-status)
#   status+sha256     etcdutl snapshot status F && openssl dgst -sha256 F   (the control: what verify
#                     does — etcdutl's walk plus a hash of the whole file; its RSS is bash's, not measured)
#   sha256            openssl dgst -sha256 F   (the floor: the hash verify cannot skip, with SHA-NI as
#                     Go's; coreutils' sha256sum has none and runs 4× slower)
#   verify does both side by side, so the slower of the two alone is its floor on two cores.
# measured by scripts/benchlib.sh: wall, CPU, the member's own
# process_cpu_seconds_total around each save, peak private (RssAnon) and
# file-backed (RssFile: the binary's pages and mapped files) RSS apart, load.
# The last table has one line per shape: ratios of medians with the range of
# the per-round ratios, and the RSS of etcdmedic's runs.
#
#   scripts/bench-snapshot.sh                                            # 3 shapes × 400 MB, 3 rounds
#   BENCH_SNAPSHOT_SHAPES=1m BENCH_SNAPSHOT_MB=1000 BENCH_SNAPSHOT_ROUNDS=5 scripts/bench-snapshot.sh
#   BENCH_SNAPSHOT_ROUNDS=0 scripts/bench-snapshot.sh                    # only seed the cache
#   ETCDMEDIC_BIN=/path/to/etcdmedic BENCH_SNAPSHOT_MB=24 BENCH_SNAPSHOT_ROUNDS=1 BENCH_LOCK=0 scripts/bench-snapshot.sh  # the smoke run
#
# etcdmedic is the release build (benchlib's bench_release_etcdmedic) unless
# ETCDMEDIC_BIN names one. etcd, etcdctl and etcdutl v3.7.3 come from
# scripts/build-etcd.sh (or BENCH_SNAPSHOT_BIN=/dir/with/them). Disk: the
# cache (3 × the size) plus 3 × the size under $TMPDIR while a shape runs.
# Not part of `go test ./...` (the smoke run is). Runs under the shared lock
# /tmp/etcdmedic-bench.lock (BENCH_LOCK=0: not).
set -euo pipefail
. "$(dirname "$0")/benchlib.sh"
bench_lock "$@" # before the cd: it runs "$0" again
cd "$(dirname "$0")/.."

SHAPES=${BENCH_SNAPSHOT_SHAPES:-small 32k 1m}
MB=${BENCH_SNAPSHOT_MB:-400}
ROUNDS=${BENCH_SNAPSHOT_ROUNDS:-3}
VER=v3.7.3
CACHE="${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}"
BIN=${BENCH_SNAPSHOT_BIN:-$CACHE/etcd/$VER/bin}
if [ -z "${BENCH_SNAPSHOT_BIN:-}" ]; then
  [ -x "$BIN/etcd" ] && [ -x "$BIN/etcdctl" ] && [ -x "$BIN/etcdutl" ] || scripts/build-etcd.sh "$VER" >/dev/null
fi
for b in etcd etcdctl etcdutl; do
  [ -x "$BIN/$b" ] || { echo "bench-snapshot: no $b in $BIN; run scripts/build-etcd.sh or set BENCH_SNAPSHOT_BIN" >&2; exit 64; }
done
SEEDS=$CACHE/bench

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-snapshot.XXXXXX")
export BENCH_WORK=$work
etcd_pid=
cleanup() {
  bench_stop_etcd
  rm -rf "$work"
}
trap cleanup EXIT

em=$(bench_release_etcdmedic "$work/etcdmedic")
go build -o "$work/benchseed" ./scripts/benchseed
ctl=("$BIN/etcdctl" --command-timeout 30m)

keys() { "${ctl[@]}" --endpoints "$ep" get "" --prefix --count-only -w fields | awk '/"Count"/ {print $3}'; }
dbsize() { "${ctl[@]}" --endpoints "$ep" endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["dbSize"])'; }

# seed SHAPE: fill the running member ($ep) until its database has MB MB.
seed() {
  local shape=$1 want=$((MB * 1000 * 1000)) i=0 s=1 n
  case $shape in
  small)
    # ~1.2 KB of bolt per key: the first batch is most of it, the rest tops up.
    n=$((want / 1200 + 1))
    while (($(dbsize) < want)); do
      "$work/benchseed" -endpoint "$ep" -layout flat -keys "$n" -value-size 1000 -seed "$s" >/dev/null
      s=$((s + 1)) n=$((n / 10 + 1000))
    done
    ;;
  32k)
    # 40 puts of 32 KiB a txn: under etcd's 1.5 MiB request limit.
    local value
    value=$(head -c 24576 /dev/urandom | base64 -w0) # exactly 32 KiB
    while (($(dbsize) < want)); do
      for _ in $(seq 10); do
        # Written to a file, not piped: a pipeline's subshell would lose i.
        { echo; for _ in $(seq 40); do printf 'put /bench/32k/%06d %s\n' "$i" "$value"; i=$((i + 1)); done; echo; echo; } >"$work/txn"
        "${ctl[@]}" --endpoints "$ep" txn <"$work/txn" >/dev/null
      done
    done
    ;;
  1m)
    head -c $((3 << 18)) /dev/urandom | base64 -w0 >"$work/value" # exactly 1 MiB
    while (($(dbsize) < want)); do
      for _ in $(seq 20); do "${ctl[@]}" --endpoints "$ep" put "$(printf '/bench/1m/%06d' "$i")" <"$work/value" >/dev/null; i=$((i + 1)); done
    done
    ;;
  *) echo "BENCH_SNAPSHOT_SHAPES: unknown shape $shape (small, 32k, 1m)" >&2; exit 64 ;;
  esac
}

# data_dir SHAPE: a fresh copy of the shape's seeded data dir in $work/data,
# seeding (without fsync, then stopped and cached) on the first use.
data_dir() {
  local shape=$1 cached=$SEEDS/snapshot-$1-${MB}mb-$VER start
  rm -rf "$work/data"
  if [ ! -d "$cached" ]; then
    start=$(date +%s)
    bench_start_etcd "$work/data" --unsafe-no-fsync
    seed "$shape"
    echo "seeded $(keys) keys"
    bench_stop_etcd
    mkdir -p "$SEEDS"
    cp -a "$work/data" "$cached.tmp.$$" && mv "$cached.tmp.$$" "$cached"
    echo "seeded $shape to $MB MB in $(($(date +%s) - start)) s; cached in $cached"
  else
    cp -a "$cached" "$work/data"
  fi
}

# measure NAME CMD...: one benchlib run, after a sync (see the header).
measure() {
  sync
  bench_run "$@"
}

table=$work/table
: >"$table"
for shape in $SHAPES; do
  echo
  data_dir "$shape"
  [ "$ROUNDS" -gt 0 ] || continue # seeding the cache only
  bench_start_etcd "$work/data"
  size=$(dbsize)
  echo "== $shape: database $((size / 1000 / 1000)) MB, $(keys) keys, etcd $("$BIN/etcd" --version | head -1), $ROUNDS rounds"
  bench_init
  for r in $(seq "$ROUNDS"); do
    out=$work/r$r
    mkdir -p "$out/ctl" "$out/em"
    save_ctl() { measure etcdctl-save "${ctl[@]}" --endpoints "$ep" snapshot save "$out/ctl/s.db"; }
    save_em() { measure etcdmedic-save "$em" snapshot save "$out/em" --endpoints "$ep"; }
    export BENCH_ETCD_METRICS=$ep/metrics
    if ((r % 2)); then save_ctl; save_em; else save_em; save_ctl; fi
    BENCH_ETCD_METRICS=
    f=$(ls "$out/em"/etcd-*.db)
    [ -s "$out/ctl/s.db" ] || { echo "bench-snapshot: etcdctl wrote no snapshot" >&2; exit 1; }
    status() { measure etcdutl-status "$BIN/etcdutl" snapshot status "$f"; }
    verify() { measure etcdmedic-verify "$em" snapshot verify "$f"; }
    control() { measure status+sha256 bash -c '"$1" snapshot status "$2" && openssl dgst -sha256 "$2"' - "$BIN/etcdutl" "$f"; }
    floor() { measure sha256 openssl dgst -sha256 "$f"; }
    if ((r % 2)); then status; verify; control; floor; else floor; control; verify; status; fi
    rm -rf "$out"
  done
  bench_summary
  bench_ratio etcdmedic-save etcdctl-save 1.0
  bench_ratio etcdmedic-save etcdctl-save - etcd_cpu
  bench_ratio etcdmedic-verify etcdutl-status 1.0
  bench_ratio etcdmedic-verify status+sha256 -
  bench_ratio etcdmedic-verify sha256 -
  sed "s/^/$shape\t$size\t/" "$BENCH_RESULTS" >>"$table"
  bench_stop_etcd
  rm -rf "$work/data"
done

# One line per shape. Save throughput is size/wall, so its ratio is
# wall(etcdctl)/wall(etcdmedic); the range is over the rounds' own ratios
# (the two ran back to back in each round).
echo
echo "etcd $VER, $ROUNDS rounds per shape, load now $(bench_load), $(nproc) cores"
[ -s "$table" ] || exit 0
python3 - "$table" <<'EOF'
import statistics, sys
COLS = ["wall", "cpu", "etcd_cpu", "anon", "file", "maxrss", "load"]
runs, sizes = {}, {}
for l in open(sys.argv[1]):
    f = l.rstrip("\n").split("\t")
    sizes[f[0]] = int(f[1])
    runs.setdefault((f[0], f[2]), []).append(dict(zip(COLS, map(float, f[3:]))))
def col(shape, name, c):
    return [r[c] for r in runs[(shape, name)]]
def med(shape, name, c):
    return statistics.median(col(shape, name, c))
def rr(shape, a, b):
    rs = [x / y for x, y in zip(col(shape, a, "wall"), col(shape, b, "wall"))]
    return f"{min(rs):.2f}–{max(rs):.2f}"
def mm(shape, name, c):
    vs = col(shape, name, c)
    return f"{med(shape, name, c):.0f} ({min(vs):.0f}–{max(vs):.0f})"
def verdict(ok):
    return "met" if ok else "MISSED"
for shape in sizes:
    mb = sizes[shape] / 1e6
    cs, es = med(shape, "etcdctl-save", "wall"), med(shape, "etcdmedic-save", "wall")
    st, ve, co, fl = (med(shape, n, "wall") for n in ("etcdutl-status", "etcdmedic-verify", "status+sha256", "sha256"))
    loads = [r["load"] for (s, _), rs in runs.items() if s == shape for r in rs]
    anon = med(shape, "etcdmedic-save", "anon")
    print(f"  {shape:5} {mb:6.0f} MB  save: etcdctl {mb / cs:6.1f} MB/s, etcdmedic {mb / es:6.1f} MB/s, "
          f"throughput ratio {cs / es:.2f}x (rounds {rr(shape, 'etcdctl-save', 'etcdmedic-save')}) "
          f"target >= 1.0x {verdict(cs / es >= 1.0)}; private RSS {mm(shape, 'etcdmedic-save', 'anon')} MB "
          f"<= 64 MB {verdict(anon <= 64)}, file {mm(shape, 'etcdmedic-save', 'file')} MB")
    print(f"  {'':5} {'':6}     verify: {ve:.3f} s, etcdutl status {st:.3f} s, status+sha256 {co:.3f} s; "
          f"time ratio {ve / st:.2f}x (rounds {rr(shape, 'etcdmedic-verify', 'etcdutl-status')}) target <= 1.0x {verdict(ve / st <= 1.0)}, "
          f"vs status+sha256 {ve / co:.2f}x (rounds {rr(shape, 'etcdmedic-verify', 'status+sha256')}); "
          f"vs the slower of status and sha256 ({max(st, fl):.3f} s) {ve / max(st, fl):.2f}x (its floor); "
          f"private RSS {mm(shape, 'etcdmedic-verify', 'anon')} MB, file {mm(shape, 'etcdmedic-verify', 'file')} MB "
          f"(etcdutl: {mm(shape, 'etcdutl-status', 'anon')} / {mm(shape, 'etcdutl-status', 'file')} MB); "
          f"load {min(loads):.2f}–{max(loads):.2f}")
EOF
