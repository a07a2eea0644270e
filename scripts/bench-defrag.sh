#!/usr/bin/env bash
# Rolling defragmentation under write load: etcdctl defrag --cluster vs
# etcdmedic defrag, in one run on one 3-member playground (see
# BenchmarkRollingDefragVsEtcdctl in defrag/bench_test.go for what is measured).
#
#   scripts/bench-defrag.sh                       # 600 MB, 50 puts/s per client, 2 rounds
#   BENCH_DEFRAG_DB_MB=1000 BENCH_DEFRAG_RATE=150 BENCH_DEFRAG_ROUNDS=4 scripts/bench-defrag.sh
#
# Needs etcdctl v3.7.3 (scripts/build-etcd.sh puts it in ~/.cache/etcdmedic) or
# BENCH_DEFRAG_ETCDCTL=/path/to/etcdctl. Disk: about 4 × BENCH_DEFRAG_DB_MB
# under $TMPDIR. Takes about 8½ minutes (2 rounds).
# Figures and what they mean: docs/defrag-cronjob.md#benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${BENCH_DEFRAG_ETCDCTL:=$HOME/.cache/etcdmedic/etcd/v3.7.3/bin/etcdctl}"
if [[ ! -x "$BENCH_DEFRAG_ETCDCTL" ]]; then
  echo "bench-defrag: no etcdctl at $BENCH_DEFRAG_ETCDCTL; run scripts/build-etcd.sh or set BENCH_DEFRAG_ETCDCTL" >&2
  exit 64
fi
export BENCH_DEFRAG_ETCDCTL

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
go build -o "$work/etcdmedic" ./cmd/etcdmedic
export BENCH_DEFRAG_ETCDMEDIC="$work/etcdmedic"

go test -run '^$' -bench '^BenchmarkRollingDefragVsEtcdctl$' -benchtime 1x -timeout 90m ./defrag/
