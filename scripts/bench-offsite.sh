#!/usr/bin/env bash
# Off-host snapshots, in one run against one real etcd v3.7.3 member holding a
# ≥ 500 MB database and a real MinIO on loopback (issue 18):
#   save --to s3:// (MinIO)  vs  save DIR             throughput, target ≥ 0.8×
#   peak RSS of save --to s3://                        target ≤ 100 MB
#   drill of that snapshot   vs  etcdutl snapshot restore + etcd start on it   target ≤ 1.5×
# and the same steps by hand as controls: save DIR + one curl PUT of the file
# (against save --to), one curl GET of the object + restore + start (against
# the drill), each summed per round.
#
#   scripts/bench-offsite.sh                      # 520 MB, 3 rounds
#   BENCH_OFFSITE_MB=1000 BENCH_OFFSITE_ROUNDS=5 scripts/bench-offsite.sh
#   BENCH_OFFSITE_LAYOUT=longtail scripts/bench-offsite.sh
#
# Layouts (BENCH_OFFSITE_LAYOUT): big (the default), values of 1 MiB side by
# side under /bench/big/; longtail, ~1 KB values in thousands of namespaces
# with a long tail of sizes (scripts/benchseed), where bolt's check of the
# spool and the drill's key count and HashKV pay per key.
#
# Needs etcd, etcdctl, etcdutl v3.7.3 (scripts/build-etcd.sh) and MinIO
# (scripts/build-minio.sh). Disk: about 4 × the DB size under $TMPDIR.
# Runs under the shared lock /tmp/etcdmedic-bench.lock (BENCH_LOCK=0: not).
set -euo pipefail
. "$(dirname "$0")/benchlib.sh"
bench_lock "$@" # before the cd: it runs "$0" again
cd "$(dirname "$0")/.."

: "${BENCH_OFFSITE_BIN:=$HOME/.cache/etcdmedic/etcd/v3.7.3/bin}"
: "${BENCH_OFFSITE_MB:=520}"
: "${BENCH_OFFSITE_ROUNDS:=3}"
: "${BENCH_OFFSITE_LAYOUT:=big}"
case $BENCH_OFFSITE_LAYOUT in
big | longtail) ;;
*) echo "bench-offsite: BENCH_OFFSITE_LAYOUT must be big or longtail, not $BENCH_OFFSITE_LAYOUT" >&2; exit 64 ;;
esac
minio=${ETCDMEDIC_MINIO:-$(scripts/build-minio.sh | tail -n 1)}
etcdctl="$BENCH_OFFSITE_BIN/etcdctl"
etcdutl="$BENCH_OFFSITE_BIN/etcdutl"

work="$(mktemp -d)"
pids=()
cleanup() {
  # `|| true`: under set -e a killed child's status would end the trap
  # before the next process is stopped.
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# The release build (goreleaser.yaml's flags, benchlib's
# bench_release_etcdmedic; ETCDMEDIC_BIN instead when set), as the other
# benchmarks measure: the binary users run, whose own pages count in its RSS
# (the 98 MB test build maps about 50 MB of itself). Its drill restores with
# etcdutl and runs the restored member with etcd, both from $BENCH_OFFSITE_BIN.
em=$(bench_release_etcdmedic "$work/etcdmedic")
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cport=$(port); pport=$(port)
ep="http://127.0.0.1:$cport"
"$BENCH_OFFSITE_BIN/etcd" --name b1 --data-dir "$work/data" \
  --listen-client-urls "$ep" --advertise-client-urls "$ep" \
  --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
  --initial-cluster "b1=http://127.0.0.1:$pport" --quota-backend-bytes $((8 << 30)) \
  --log-level error >"$work/etcd.log" 2>&1 &
pids+=($!); etcd_pid=$!
for _ in $(seq 100); do "$etcdctl" --endpoints "$ep" endpoint health >/dev/null 2>&1 && break; sleep 0.2; done

export AWS_ACCESS_KEY_ID=bench-user AWS_SECRET_ACCESS_KEY=bench-secret-$RANDOM$RANDOM AWS_REGION=us-east-1
mport=$(port); mcport=$(port)
MINIO_ROOT_USER=$AWS_ACCESS_KEY_ID MINIO_ROOT_PASSWORD=$AWS_SECRET_ACCESS_KEY MINIO_BROWSER=off \
  "$minio" server --quiet --address "127.0.0.1:$mport" --console-address "127.0.0.1:$mcport" "$work/minio" >"$work/minio.log" 2>&1 &
pids+=($!); minio_pid=$!
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$mport/minio/health/cluster" >/dev/null && break; sleep 0.2; done
curl -sf -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "http://127.0.0.1:$mport/bench" >/dev/null
url="s3://bench/etcd?endpoint=http://127.0.0.1:$mport&use_path_style=true&region=us-east-1"

dbsize() { "$etcdctl" --endpoints "$ep" endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["dbSize"])'; }
case $BENCH_OFFSITE_LAYOUT in
big)
  head -c $((3 << 18)) /dev/urandom | base64 -w0 >"$work/value" # 1 MiB
  i=0
  while (( $(dbsize) < BENCH_OFFSITE_MB * 1000 * 1000 )); do
    for _ in $(seq 20); do "$etcdctl" --endpoints "$ep" put "/bench/big/$i" <"$work/value" >/dev/null; i=$((i + 1)); done
  done
  ;;
longtail)
  # About 1.4 KB of bolt file per ~1 KB value; seeded in rounds of fresh
  # seeds until the file reaches the size.
  go build -o "$work/benchseed" ./scripts/benchseed
  s=1
  while (( $(dbsize) < BENCH_OFFSITE_MB * 1000 * 1000 )); do
    "$work/benchseed" -endpoint "$ep" -layout longtail -keys $(( (BENCH_OFFSITE_MB * 1000 * 1000 - $(dbsize)) / 1400 + 1000 )) -value-size 1000 -seed "$s" >/dev/null
    s=$((s + 1))
  done
  ;;
esac
size=$(dbsize)
keys=$("$etcdctl" --endpoints "$ep" get "" --prefix --count-only -w fields | awk -F' : ' '/^"Count"/ {print $2}')
echo "database: $((size / 1000 / 1000)) MB, $keys keys (layout $BENCH_OFFSITE_LAYOUT), MinIO $("$minio" --version | head -1)"

now() { date +%s.%N; }
# CPU seconds (user + system) a process has used: with etcd, MinIO and the
# save on the same 2 cores, what each costs says where the wall time goes.
tck=$(getconf CLK_TCK)
cpu_of() { awk -v t="$tck" '{printf "%.2f\n", ($14 + $15) / t}' "/proc/$1/stat"; }
# Peak resident memory split into private (RssAnon + RssShmem) and file-backed
# (RssFile: mostly the binary's own pages, shared with the page cache),
# sampled every 20 ms while the /usr/bin/time whose pid is $1 runs its child.
rss_split() {
  local c="" a f pa=0 pf=0
  # (kill -0 would not do: the finished time is a zombie until waited for.)
  while [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) =~ ^[RSD]$ ]]; do
    [[ -n $c ]] || c=$(cat "/proc/$1/task/$1/children" 2>/dev/null | cut -d' ' -f1) || true
    if [[ -n $c ]] && read -r a f < <(awk '/^RssAnon|^RssShmem/ {a += $2} /^RssFile/ {f = $2} END {print a + 0, f + 0}' "/proc/$c/status" 2>/dev/null); then
      (( a > pa )) && pa=$a; (( f > pf )) && pf=$f
    fi
    sleep 0.02
  done
  echo "$((pa / 1024)) MiB private + $((pf / 1024)) MiB file-backed"
}
cpu_delta() { echo "scale=2; ($2 - $1) / 1" | bc -l; }
span() { sort -g | awk 'NR == 1 {a = $1} {b = $1} END {print a "–" b}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
timed() { sync; local t0; t0=$(now); "$@" >/dev/null 2>&1; echo "$(now) - $t0" | bc -l; }
splits=(); put_s=(); get_s=(); hand_s=(); hand_drill_s=(); local_s=(); s3_s=(); rss=(); lrss=(); up_s=(); drill_s=(); ref_s=()
for r in $(seq "$BENCH_OFFSITE_ROUNDS"); do
  mkdir -p "$work/r$r/local"
  save_local() {
    sync; local t0 e0; t0=$(now); e0=$(cpu_of "$etcd_pid")
    /usr/bin/time -f '%M %U %S' -o "$work/rss" "$em" snapshot save "$work/r$r/local" --endpoints "$ep" >/dev/null 2>&1
    local_s+=("$(echo "$(now) - $t0" | bc -l)"); lrss+=("$(cut -d' ' -f1 "$work/rss")")
    lcpu="etcd $(cpu_delta "$e0" "$(cpu_of "$etcd_pid")")s, etcdmedic $(awk '{print $2 + $3}' "$work/rss")s"
  }
  save_s3() {
    sync; local t0 e0 m0; t0=$(now); e0=$(cpu_of "$etcd_pid"); m0=$(cpu_of "$minio_pid")
    /usr/bin/time -f '%M %U %S' -o "$work/rss" "$em" snapshot save --to "$url" --endpoints "$ep" -o json >"$work/s3.json" 2>/dev/null &
    split=$(rss_split $!); wait $!
    splits+=("$split")
    s3_s+=("$(echo "$(now) - $t0" | bc -l)"); rss+=("$(cut -d' ' -f1 "$work/rss")")
    scpu="etcd $(cpu_delta "$e0" "$(cpu_of "$etcd_pid")")s, MinIO $(cpu_delta "$m0" "$(cpu_of "$minio_pid")")s, etcdmedic $(awk '{print $2 + $3}' "$work/rss")s"
    # The stream (with the upload beside it) alone, and how the object got its name.
    up_s+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["save"]["streamSeconds"])' "$work/s3.json")")
    how=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["save"]["upload"])' "$work/s3.json")
  }
  if (( r % 2 )); then save_local; save_s3; else save_s3; save_local; fi
  f=$(ls "$work/r$r/local"/etcd-*.db)
  # Control: the same bytes into the same MinIO in one PUT by curl (no etcd,
  # no checks): what the server ingests at all on this machine right now.
  m0=$(cpu_of "$minio_pid")
  put_s+=("$(timed curl -sf -T "$f" --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "http://127.0.0.1:$mport/bench/control/r$r.db")")
  pcpu="MinIO $(cpu_delta "$m0" "$(cpu_of "$minio_pid")")s"
  # The same steps by hand: the plain object back in one GET (what a drill
  # by hand downloads before etcdutl restore).
  get_s+=("$(timed curl -sf -o "$work/r$r/get.db" --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "http://127.0.0.1:$mport/bench/control/r$r.db")")
  cmp -s "$f" "$work/r$r/get.db" || { echo "bench-offsite: the control GET returned other bytes" >&2; exit 1; }
  rm -f "$work/r$r/get.db"
  curl -sf -X DELETE --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "http://127.0.0.1:$mport/bench/control/r$r.db" >/dev/null || true
  # Reference for the drill: etcdutl restore + an etcd start until it serves.
  ref() {
    sync; local t0 p; t0=$(now)
    "$etcdutl" snapshot restore "$f" --data-dir "$work/r$r/ref" --name ref \
      --initial-cluster "ref=http://127.0.0.1:$1" --initial-advertise-peer-urls "http://127.0.0.1:$1" >/dev/null 2>&1
    "$BENCH_OFFSITE_BIN/etcd" --name ref --data-dir "$work/r$r/ref" --listen-client-urls "http://127.0.0.1:$2" \
      --advertise-client-urls "http://127.0.0.1:$2" --listen-peer-urls "http://127.0.0.1:$1" \
      --initial-advertise-peer-urls "http://127.0.0.1:$1" --initial-cluster "ref=http://127.0.0.1:$1" --log-level error >/dev/null 2>&1 &
    p=$!
    until "$etcdctl" --endpoints "http://127.0.0.1:$2" get x >/dev/null 2>&1; do sleep 0.05; done
    kill $p; wait $p 2>/dev/null || true
    ref_s+=("$(echo "$(now) - $t0" | bc -l)")
    rm -rf "$work/r$r/ref"
  }
  do_drill() {
    sync; local t0; t0=$(now)
    "$em" snapshot drill "$url" --temp-dir "$work" --etcdutl-binary "$etcdutl" --etcd-binary "$BENCH_OFFSITE_BIN/etcd" -o json >"$work/drill.json" 2>/dev/null
    drill_s+=("$(echo "$(now) - $t0" | bc -l)")
    phases=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("download+verify %.2fs, restore %.2fs, start %.2fs, compare %.2fs" % (d["downloadSeconds"], d["restoreSeconds"], d["startSeconds"], d["compareSeconds"]))' "$work/drill.json")
  }
  if (( r % 2 )); then ref "$(port)" "$(port)"; do_drill; else do_drill; ref "$(port)" "$(port)"; fi
  "$em" snapshot drill "$url" --temp-dir "$work" --etcdutl-binary "$etcdutl" --etcd-binary "$BENCH_OFFSITE_BIN/etcd" >/dev/null || { echo "bench-offsite: drill failed" >&2; exit 1; }
  hand_s+=("$(echo "${local_s[-1]} + ${put_s[-1]}" | bc -l)")
  hand_drill_s+=("$(echo "${get_s[-1]} + ${ref_s[-1]}" | bc -l)")
  echo "round $r: save DIR ${local_s[-1]}s (peak RSS ${lrss[-1]} KiB; CPU $lcpu), save --to s3 ${s3_s[-1]}s ($how; stream ${up_s[-1]}s, peak RSS ${rss[-1]} KiB: $split; CPU $scpu); curl PUT ${put_s[-1]}s (CPU $pcpu), GET ${get_s[-1]}s; restore+start ${ref_s[-1]}s, drill ${drill_s[-1]}s ($phases); load $(cut -d' ' -f1-3 /proc/loadavg)"
  rm -rf "$work/r$r"
done
ls=$(printf '%s\n' "${local_s[@]}" | median); ss=$(printf '%s\n' "${s3_s[@]}" | median)
pr=$(printf '%s\n' "${rss[@]}" | sort -g | tail -1)
rs=$(printf '%s\n' "${ref_s[@]}" | median); ds=$(printf '%s\n' "${drill_s[@]}" | median)
echo
echo "save (median of $BENCH_OFFSITE_ROUNDS): DIR ${ls}s ($(printf '%s\n' "${local_s[@]}" | span)), --to s3:// ${ss}s ($(printf '%s\n' "${s3_s[@]}" | span)); throughput ratio s3/local = $(echo "scale=3; $ls / $ss" | bc -l)   (target ≥ 0.8)"
ps=$(printf '%s\n' "${put_s[@]}" | median)
echo "      control: one curl PUT of the same file into the same MinIO ${ps}s ($(printf '%s\n' "${put_s[@]}" | span)): save DIR / PUT = $(echo "scale=3; $ls / $ps" | bc -l), the most any upload can reach"
us=$(printf '%s\n' "${up_s[@]}" | median); lr=$(printf '%s\n' "${lrss[@]}" | sort -g | tail -1)
hs=$(printf '%s\n' "${hand_s[@]}" | median)
echo "      by hand: save DIR, then curl PUT of the file ${hs}s ($(printf '%s\n' "${hand_s[@]}" | span)): throughput ratio s3/by-hand = $(echo "scale=3; $hs / $ss" | bc -l)   (proposed target ≥ 0.8: MinIO, etcd and etcdmedic share the machine's cores, which the local save does not pay for)"
echo "      stream (upload beside it) ${us}s (the rest: the last parts, bolt's check of the spool, ListParts, .meta.json, complete)"
echo "peak RSS of save --to s3://: $((pr / 1024)) MiB   (target ≤ 100; sampled per round: $(printf '%s; ' "${splits[@]}")); of save DIR: $((lr / 1024)) MiB (both include the release binary's own pages)"
echo "drill ${ds}s ($(printf '%s\n' "${drill_s[@]}" | span)) vs etcdutl restore + etcd start ${rs}s ($(printf '%s\n' "${ref_s[@]}" | span)): ratio $(echo "scale=3; $ds / $rs" | bc -l)   (target ≤ 1.5; the drill also downloads and verifies, and compares key count and HashKV)"
hd=$(printf '%s\n' "${hand_drill_s[@]}" | median)
echo "      by hand: curl GET of the object + etcdutl restore + etcd start ${hd}s ($(printf '%s\n' "${hand_drill_s[@]}" | span)): ratio $(echo "scale=3; $ds / $hd" | bc -l)   (proposed target ≤ 1.5: the same download the drill makes)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
