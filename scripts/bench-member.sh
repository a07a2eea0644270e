#!/usr/bin/env bash
# bench-member.sh — issue 15's two benchmarks, on a 3-member playground
# holding BENCH_MEMBER_DB_MB (default 500) MiB, in one run:
#   BenchmarkLearnerCatchUpVsEtcdctl  a learner from added to promoted:
#       etcdmedic (member add, start, member promote --wait) against etcdctl
#       3.7 by hand (member add --learner, start, member promote every 100 ms),
#       alternating which goes first; target etcdmedic ≤ 1.1 × etcdctl + 1 s.
#       Also by hand until the new member serves a read (etcdctl get on it
#       every 100 ms): etcdmedic's promote verifies that, etcdctl's does not.
#       etcdmedic-promoted is when within its round the promote itself
#       succeeded (its waitedSeconds): the profile of promote's polls.
#       Each round prints whether the leader sent a raft snapshot: at 500 MB
#       it does (etcd 3.7 compacts its log after every 100 applied entries).
#   BenchmarkLearnerSnapshotCatchUpVsEtcdctl  the same contenders, rounds and
#       target, after 5300 small writes: the leader has compacted its raft log
#       at any size (etcd keeps 5000 entries after each in-memory snapshot), so
#       every learner receives the whole database as a raft snapshot and then
#       5000 entries; each round prints the leader's
#       etcd_network_snapshot_send_success before and after (a round without
#       a snapshot fails) and the seconds the send took.
#   BenchmarkReplaceAllThreeMembers   member replace of m1, m2, m3 in turn,
#       each phase measured inside the run; target wall ≤ 1.2 × (Σ catch-ups + Σ gates).
#       The rest of the wall is printed step by step (Σ over the three):
#       add, move-leader, stop-old (OLD SIGTERMed until judged stopped),
#       remove, and between (the driver's gaps between replacements); and
#       add-refused, how long etcd refused the adds ("unhealthy cluster",
#       from the members' logs: its strict reconfig check wants every voter
#       connected to the others for 5 s, and a learner that applied a raft
#       snapshot restarts its peer streams), with the ratio counting it.
# Each benchmark call is one round (-benchtime=1x); CATCHUP_COUNT (default 3),
# SNAPSHOT_COUNT (default CATCHUP_COUNT) and REPLACE_COUNT (default 2) rounds (0 skips that benchmark). The seeded data dirs are cached under
# ~/.cache/etcdmedic/bench-member/<MB>MB (the first run seeds them: minutes).
# Needs the etcd release binaries of scripts/build-etcd.sh. Runs under the
# shared benchmark lock. Prints every round, then medians (min–max) and the
# verdicts.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/benchlib.sh
bench_lock "$@"
echo "bench-member: load $(bench_load), $(nproc) cores, $(date -u +%FT%TZ), ${BENCH_MEMBER_DB_MB:-500} MiB"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go test -c -o "$work/member.test" ./commands/member/
# The etcdmedic the benchmarks run: the release build (slim, stripped), a
# process of its own as users run it, unless ETCDMEDIC_BIN names one.
ETCDMEDIC_BIN=$(bench_release_etcdmedic "$work/etcdmedic")
export ETCDMEDIC_BIN
echo "bench-member: etcdmedic $ETCDMEDIC_BIN"
run() { # NAME COUNT
  "$work/member.test" -test.run '^$' -test.bench "^$1\$" -test.benchtime 1x -test.count "$2" -test.timeout 60m | tee -a "$work/out"
  echo "bench-member: load $(bench_load) after $1"
}
[[ "${CATCHUP_COUNT:-3}" == 0 ]] || run BenchmarkLearnerCatchUpVsEtcdctl "${CATCHUP_COUNT:-3}"
[[ "${SNAPSHOT_COUNT:-${CATCHUP_COUNT:-3}}" == 0 ]] || run BenchmarkLearnerSnapshotCatchUpVsEtcdctl "${SNAPSHOT_COUNT:-${CATCHUP_COUNT:-3}}"
[[ "${REPLACE_COUNT:-2}" == 0 ]] || run BenchmarkReplaceAllThreeMembers "${REPLACE_COUNT:-2}"
python3 - "$work/out" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r'(Benchmark\w+)(-\d+)?\s+\d+\s+\d+ ns/op\s+(.*)', line)
    if not m:
        continue
    vals = dict((u, float(v)) for v, u in re.findall(r'([\d.]+) (\S+)', m.group(3)))
    rows.setdefault(m.group(1), []).append(vals)
def med(name, key):
    xs = [r[key] for r in rows.get(name, []) if key in r]
    return statistics.median(xs), min(xs), max(xs), len(xs)
catchup = ("etcdmedic-s/op", "etcdmedic-promoted-s/op", "etcdctl-s/op", "etcdctl-serving-s/op", "ratio", "ratio-serving", "load1")
for name, keys in (("BenchmarkLearnerCatchUpVsEtcdctl", catchup),
                   ("BenchmarkLearnerSnapshotCatchUpVsEtcdctl", catchup + ("etcdmedic-snapshot-send-s/op", "etcdctl-snapshot-send-s/op")),
                   ("BenchmarkReplaceAllThreeMembers", ("wall-s/op", "catchup-s/op", "gates-s/op", "ratio", "add-s/op", "add-refused-s/op", "ratio-with-refusals", "move-leader-s/op", "stop-old-s/op", "remove-s/op", "between-s/op", "load1"))):
    if name not in rows:
        continue
    print(name)
    for k in keys:
        m, lo, hi, n = med(name, k)
        print(f"  {k:28s} median {m:8.2f}  (min {lo:.2f} – max {hi:.2f}, {n} rounds)")
for name, label in (("BenchmarkLearnerCatchUpVsEtcdctl", "catch-up"), ("BenchmarkLearnerSnapshotCatchUpVsEtcdctl", "catch-up across a raft snapshot")):
    if name not in rows:
        continue
    ours, _, _, _ = med(name, "etcdmedic-s/op")
    theirs, _, _, _ = med(name, "etcdctl-s/op")
    ok = ours <= 1.1 * theirs + 1
    print(f"{label}: etcdmedic {ours:.2f}s vs etcdctl {theirs:.2f}s = {ours/theirs:.3f}x; target ≤ 1.1x + 1 s ({1.1*theirs+1:.2f}s): {'met' if ok else 'MISSED'}")
    serving, _, _, _ = med(name, "etcdctl-serving-s/op")
    ok = ours <= 1.1 * serving + 1
    print(f"  against etcdctl until the new member serves a read (etcdmedic's promote verifies that): {serving:.2f}s = {ours/serving:.3f}x; ≤ 1.1x + 1 s ({1.1*serving+1:.2f}s): {'met' if ok else 'MISSED'}")
    promoted, _, _, _ = med(name, "etcdmedic-promoted-s/op")
    print(f"  (profile) etcdmedic's promote succeeded at {promoted:.2f}s against etcdctl's {theirs:.2f}s = {promoted/theirs:.3f}x; the rest of its {ours:.2f}s is the verification (the new voter's publish)")
if "BenchmarkReplaceAllThreeMembers" in rows:
    r, _, _, _ = med("BenchmarkReplaceAllThreeMembers", "ratio")
    print(f"replace all three: wall / (catch-ups + gates) median {r:.3f}; target ≤ 1.2: {'met' if r <= 1.2 else 'MISSED'}")
    r, _, _, _ = med("BenchmarkReplaceAllThreeMembers", "ratio-with-refusals")
    print(f"  counting etcd's refusals of the adds (strict reconfig: 5 s connected) with the catch-ups and gates: median {r:.3f}; ≤ 1.2: {'met' if r <= 1.2 else 'MISSED'}")
PY
echo "bench-member: load $(bench_load) at the end"
