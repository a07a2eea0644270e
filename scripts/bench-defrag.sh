#!/usr/bin/env bash
# Rolling defragmentation under write load: etcdctl defrag --cluster vs
# etcdmedic defrag, in one run on one 3-member playground (see
# BenchmarkRollingDefragVsEtcdctl in defrag/bench_test.go for what is measured).
# Every phase prints, besides wall time and each member's defragmentation,
# the members' own CPU seconds during the tool's run (process_cpu_seconds_total
# before and after), the tool's CPU, peak private and file-backed RSS and peak
# RSS, and the load — the columns of scripts/benchlib.sh. Target (issue 14):
# etcdmedic's wall <= 1.10 x the sum of its member defragmentations; etcdctl's
# own ratio, printed beside it, is the control.
#
#   scripts/bench-defrag.sh                       # 600 MB, 50 puts/s per client, 2 rounds
#   BENCH_DEFRAG_DB_MB=1000 BENCH_DEFRAG_RATE=150 BENCH_DEFRAG_ROUNDS=4 scripts/bench-defrag.sh
#   ETCDMEDIC_BIN=… BENCH_DEFRAG_DB_MB=24 BENCH_DEFRAG_ROUNDS=1 BENCH_DEFRAG_CONTROL=0 BENCH_LOCK=0 scripts/bench-defrag.sh  # the smoke run
#
# Needs etcdctl v3.7.3 (scripts/build-etcd.sh puts it in ~/.cache/etcdmedic) or
# BENCH_DEFRAG_ETCDCTL=/path/to/etcdctl. Disk: about 4 × BENCH_DEFRAG_DB_MB
# under $TMPDIR. Takes about 8½ minutes (2 rounds). Runs under the shared lock
# /tmp/etcdmedic-bench.lock (BENCH_LOCK=0: not).
# Figures and what they mean: docs/defrag-cronjob.md#benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/benchlib.sh
bench_lock "$@"

: "${BENCH_DEFRAG_ETCDCTL:=$HOME/.cache/etcdmedic/etcd/v3.7.3/bin/etcdctl}"
if [[ ! -x "$BENCH_DEFRAG_ETCDCTL" ]]; then
  echo "bench-defrag: no etcdctl at $BENCH_DEFRAG_ETCDCTL; run scripts/build-etcd.sh or set BENCH_DEFRAG_ETCDCTL" >&2
  exit 64
fi
export BENCH_DEFRAG_ETCDCTL

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
BENCH_DEFRAG_ETCDMEDIC=$(bench_etcdmedic "$work/etcdmedic")
export BENCH_DEFRAG_ETCDMEDIC
echo "bench-defrag: load $(bench_load), $(nproc) cores, $(date -u +%FT%TZ)"

go test -run '^$' -bench '^BenchmarkRollingDefragVsEtcdctl$' -benchtime 1x -timeout 90m ./defrag/
