#!/usr/bin/env bash
# How fast the CLI starts, against etcdctl, in one run (issue 14).
#
# Builds etcdmedic twice (the full build, and -tags slim, which leaves the
# embedded etcd server out), starts a 3-member playground of etcd v3.7.3
# release binaries, then alternates BENCH_ROUNDS times (default 30)
#   etcdmedic status -o json            vs  etcdctl endpoint status --cluster -w json
#   etcdmedic version                   vs  etcdctl version
# for each build, and prints per contender the median wall time and CPU time
# (user+sys, from getrusage) with min–max, the package init time Go reports
# (GODEBUG=inittrace=1: the sum over packages, median), and the ratios against
# the targets: status <= 1.3x, version <= 1.5x etcdctl's. An etcdctl-vs-itself
# control shows what the noise alone gives.
#
#   scripts/bench-startup.sh
#   ETCDMEDIC_BASELINE=/path/to/old/etcdmedic scripts/bench-startup.sh   # an older build beside them
#
# Not part of `go test ./...`. About a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${BENCH_ROUNDS:-30}
CACHE="${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}/etcd/v3.7.3/bin"
[ -x "$CACHE/etcdctl" ] && [ -x "$CACHE/etcd" ] || scripts/build-etcd.sh v3.7.3 >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-startup.XXXXXX")
pg_pid=
cleanup() {
  if [ -n "$pg_pid" ]; then
    kill -TERM "$pg_pid" 2>/dev/null || true
    wait "$pg_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/etcdmedic" ./cmd/etcdmedic
go build -tags slim -o "$work/etcdmedic-slim" ./cmd/etcdmedic
ls -l "$work/etcdmedic" "$work/etcdmedic-slim" | awk '{ printf "%-40s %5.1f MB\n", $NF, $5/1e6 }'

"$work/etcdmedic-slim" playground --etcd-binary "$CACHE/etcd" >"$work/pg.out" 2>"$work/pg.err" &
pg_pid=$!
for _ in $(seq 600); do
  grep -q "endpoints:" "$work/pg.out" 2>/dev/null && break
  sleep 0.1
done
ep=$(sed -n 's/^endpoints: //p' "$work/pg.out")
[ -n "$ep" ] || { echo "playground did not start:" >&2; cat "$work/pg.err" >&2; exit 1; }
echo "3 members of etcd v3.7.3: $ep; load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"

ETCDCTL="$CACHE/etcdctl" EP="$ep" ROUNDS="$ROUNDS" FULL="$work/etcdmedic" SLIM="$work/etcdmedic-slim" BASELINE="${ETCDMEDIC_BASELINE:-}" python3 - <<'EOF'
import os, resource, statistics, subprocess, time

ctl, ep, rounds = os.environ["ETCDCTL"], os.environ["EP"], int(os.environ["ROUNDS"])
builds = {"full": os.environ["FULL"], "slim": os.environ["SLIM"]}
if os.environ.get("BASELINE"):
    builds["baseline"] = os.environ["BASELINE"]
contenders = {"etcdctl status": [ctl, "endpoint", "status", "--cluster", "-w", "json", "--endpoints", ep],
              "etcdctl version": [ctl, "version"],
              "control status": [ctl, "endpoint", "status", "--cluster", "-w", "json", "--endpoints", ep]}
for name, b in builds.items():
    contenders[name + " status"] = [b, "status", "-o", "json", "--endpoints", ep]
    contenders[name + " version"] = [b, "version"]

def run(argv, env=None):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode not in (0, 1):  # status exits 1 on a degraded verdict
        raise SystemExit(f"{argv[0]} {argv[1]}: exit {p.returncode}\n{p.stderr.decode()}")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu, p.stderr.decode()

def init_ms(stderr):
    return sum(float(l.split()[4]) for l in stderr.splitlines() if l.startswith("init "))

wall, cpu, init = {k: [] for k in contenders}, {k: [] for k in contenders}, {k: [] for k in contenders}
for _ in range(rounds):
    for k, argv in contenders.items():
        w, c, _ = run(argv)
        wall[k].append(w)
        cpu[k].append(c)
        _, _, err = run(argv, dict(os.environ, GODEBUG="inittrace=1"))  # etcdctl is Go too
        init[k].append(init_ms(err))

med = statistics.median
print(f"\n{rounds} rounds, alternating; load now {open('/proc/loadavg').read().split()[0]}")
for k in contenders:
    print(f"  {k:18} wall {med(wall[k])*1e3:6.1f} ms ({min(wall[k])*1e3:.1f}–{max(wall[k])*1e3:.1f})"
          f"  cpu {med(cpu[k])*1e3:6.1f} ms ({min(cpu[k])*1e3:.1f}–{max(cpu[k])*1e3:.1f})  init {med(init[k]):5.1f} ms")
print()
rows = [("control status", "etcdctl status", None)]
for name in builds:
    rows += [(name + " status", "etcdctl status", 1.3), (name + " version", "etcdctl version", 1.5)]
for a, b, target in rows:
    rw, rc = med(wall[a]) / med(wall[b]), med(cpu[a]) / med(cpu[b])
    verdict = "(reference)" if target is None or a.startswith("baseline") else ("met" if rw <= target else "MISSED")
    tgt = f"target wall <= {target:.1f}x: {verdict}" if target else verdict
    print(f"  {a:18} / {b:16} wall {rw:5.2f}x  cpu {rc:5.2f}x  {tgt}")
EOF
