#!/usr/bin/env bash
# Snapshot save and verify, side by side with the reference tools in one run:
#   etcdmedic snapshot save   vs  etcdctl snapshot save     (throughput; target ≥ 1.0×;
#                                                           private RSS ≤ 64 MB)
#   etcdmedic snapshot verify vs  etcdutl snapshot status   (wall time;  target ≤ 1.0×)
# Peak RSS of each is sampled from /proc/PID/status every 10 ms, private
# (RssAnon) and file-backed (RssFile: the binary's pages, mapped files)
# apart.
# against one real etcd v3.7.3 member holding a ≥ 500 MB database.
#
#   scripts/bench-snapshot.sh                         # 560 MB, 3 rounds
#   BENCH_SNAPSHOT_MB=1000 BENCH_SNAPSHOT_ROUNDS=5 scripts/bench-snapshot.sh
#
# Needs etcd, etcdctl and etcdutl v3.7.3 (scripts/build-etcd.sh puts them in
# ~/.cache/etcdmedic) or BENCH_SNAPSHOT_BIN=/dir/with/them. Disk: about
# 2 × (rounds + 1) × the DB size under $TMPDIR. The tools alternate in each
# round, in flipped order every round, each after a sync, so neither pays for
# the other's writeback and a load change hits both; medians are reported.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${BENCH_SNAPSHOT_BIN:=$HOME/.cache/etcdmedic/etcd/v3.7.3/bin}"
: "${BENCH_SNAPSHOT_MB:=560}"
: "${BENCH_SNAPSHOT_ROUNDS:=3}"
for b in etcd etcdctl etcdutl; do
  if [[ ! -x "$BENCH_SNAPSHOT_BIN/$b" ]]; then
    echo "bench-snapshot: no $b in $BENCH_SNAPSHOT_BIN; run scripts/build-etcd.sh or set BENCH_SNAPSHOT_BIN" >&2
    exit 64
  fi
done
etcdctl="$BENCH_SNAPSHOT_BIN/etcdctl"
etcdutl="$BENCH_SNAPSHOT_BIN/etcdutl"

work="$(mktemp -d)"
etcd_pid=""
cleanup() {
  # `|| true`: under set -e the killed etcd's status (143) would become the script's
  if [[ -n "$etcd_pid" ]]; then kill "$etcd_pid" 2>/dev/null || true; wait "$etcd_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/etcdmedic" ./cmd/etcdmedic
em="$work/etcdmedic"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cport=$(port); pport=$(port)
ep="http://127.0.0.1:$cport"
"$BENCH_SNAPSHOT_BIN/etcd" --name b1 --data-dir "$work/data" \
  --listen-client-urls "$ep" --advertise-client-urls "$ep" \
  --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
  --initial-cluster "b1=http://127.0.0.1:$pport" --quota-backend-bytes $((8 << 30)) \
  --log-level error >"$work/etcd.log" 2>&1 &
etcd_pid=$!
for _ in $(seq 100); do "$etcdctl" --endpoints "$ep" endpoint health >/dev/null 2>&1 && break; sleep 0.2; done

# Fill: 1 MiB values plus 20k small keys (the bolt walk pays per key, too).
head -c $((3 << 18)) /dev/urandom | base64 -w0 >"$work/value" # exactly 1 MiB
dbsize() { "$etcdctl" --endpoints "$ep" endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["dbSize"])'; }
i=0
while (( $(dbsize) < BENCH_SNAPSHOT_MB * 1000 * 1000 )); do
  for _ in $(seq 20); do "$etcdctl" --endpoints "$ep" put "/bench/big/$i" <"$work/value" >/dev/null; i=$((i + 1)); done
done
for c in $(seq 0 199); do # 200 txns of 100 small puts
  { echo; for k in $(seq 100); do echo "put /bench/small/$c/$k small-value-$c-$k-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; done; echo; echo; } |
    "$etcdctl" --endpoints "$ep" txn >/dev/null
done
size=$(dbsize)
echo "database: $((size / 1000 / 1000)) MB ($i values of 1 MiB), etcd $("$BENCH_SNAPSHOT_BIN/etcd" --version | head -1)"

# rss CMD...: runs CMD, prints "anonKiB fileKiB" peaks (sampled) on fd 3.
cat >"$work/rss.py" <<'PY'
import subprocess, sys, time
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
anon = fil = 0
while p.poll() is None:
    try:
        d = dict(l.split(":", 1) for l in open(f"/proc/{p.pid}/status"))
        anon = max(anon, int(d["RssAnon"].split()[0])); fil = max(fil, int(d["RssFile"].split()[0]))
    except (OSError, KeyError, ValueError):
        pass
    time.sleep(0.01)
open(sys.argv[0] + ".out", "w").write(f"{anon} {fil}\n")
sys.exit(p.returncode)
PY
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
ctl_save=(); em_save=(); ctl_status=(); em_verify=()
# Each timed step starts after a sync, so no tool pays for the previous one's
# dirty pages, and the order of the tools flips every round.
timed() { sync; local t0; t0=$(now); python3 "$work/rss.py" "$@" >/dev/null 2>&1; echo "$(now) - $t0" | bc -l; }
# etcd's own CPU seconds (the member's process_cpu_seconds_total), read
# around each save: what the tool costs the server it reads from.
ecpu() { curl -fsS "$ep/metrics" | awk '/^process_cpu_seconds_total /{print $2}'; }
rssof() { local a f; read -r a f <"$work/rss.py.out"; echo "anon $((a / 1024)) MiB, file $((f / 1024)) MiB"; }
for r in $(seq "$BENCH_SNAPSHOT_ROUNDS"); do
  mkdir -p "$work/r$r/ctl" "$work/r$r/em"
  save_ctl() { local c0; c0=$(ecpu); ctl_save+=("$(timed "$etcdctl" --endpoints "$ep" snapshot save "$work/r$r/ctl/s.db")"); ctl_rss="$(rssof), etcd cpu $(echo "$(ecpu) - $c0" | bc -l)s"; }
  save_em() { local c0; c0=$(ecpu); em_save+=("$(timed "$em" snapshot save "$work/r$r/em" --endpoints "$ep")"); em_rss="$(rssof), etcd cpu $(echo "$(ecpu) - $c0" | bc -l)s"; }
  if (( r % 2 )); then save_ctl; save_em; else save_em; save_ctl; fi
  f=$(ls "$work/r$r/em"/etcd-*.db)
  [[ -s "$work/r$r/ctl/s.db" ]] || { echo "bench-snapshot: etcdctl wrote no snapshot" >&2; exit 1; }
  status_ctl() { ctl_status+=("$(timed "$etcdutl" snapshot status "$f")"); st_rss=$(rssof); }
  verify_em() { em_verify+=("$(timed "$em" snapshot verify "$f")"); ve_rss=$(rssof); }
  if (( r % 2 )); then status_ctl; verify_em; else verify_em; status_ctl; fi
  "$em" snapshot verify "$f" >/dev/null || { echo "bench-snapshot: etcdmedic's snapshot failed verification" >&2; exit 1; }
  echo "round $r: save etcdctl ${ctl_save[-1]}s ($ctl_rss) etcdmedic ${em_save[-1]}s ($em_rss); status etcdutl ${ctl_status[-1]}s ($st_rss) verify etcdmedic ${em_verify[-1]}s ($ve_rss); load $(cut -d' ' -f1-3 /proc/loadavg)"
  rm -rf "$work/r$r"
done
cs=$(printf '%s\n' "${ctl_save[@]}" | median); es=$(printf '%s\n' "${em_save[@]}" | median)
cu=$(printf '%s\n' "${ctl_status[@]}" | median); ev=$(printf '%s\n' "${em_verify[@]}" | median)
mbps() { echo "scale=1; $size / $1 / 1000000" | bc -l; }
echo
echo "snapshot save   (median of $BENCH_SNAPSHOT_ROUNDS): etcdctl ${cs}s = $(mbps "$cs") MB/s, etcdmedic ${es}s = $(mbps "$es") MB/s (includes member selection, verification, metadata)"
echo "                throughput ratio etcdmedic/etcdctl = $(echo "scale=3; $cs / $es" | bc -l)   (target ≥ 1.0)"
echo "snapshot verify (median of $BENCH_SNAPSHOT_ROUNDS): etcdutl snapshot status ${cu}s, etcdmedic snapshot verify ${ev}s"
echo "                time ratio etcdmedic/etcdutl = $(echo "scale=3; $ev / $cu" | bc -l)   (target ≤ 1.0)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
