#!/usr/bin/env bash
# The node fitness check's fdatasync probe against fio's etcd recipe
# (fio --rw=write --ioengine=sync --fdatasync=1 --bs=2300 --size=22m), on the
# same directory in the same run: four rounds one after the other (alternating
# which runs first), then three side by side (both meet the same load). Prints each
# round's p99 and wall time and the mean ratios; fails when, side by side, the
# probe's p99 is not within ±25 % of fio's or it takes longer than fio.
#
#   scripts/bench-node-fsync.sh [DIR]   # default: a temp dir under $TMPDIR
#   BENCH_ASSERT=0 reports the ratios without judging them (the suite's smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v fio >/dev/null || { echo "fio is not installed (scripts/test.sh installs it)" >&2; exit 1; }
ETCDMEDIC_BENCH_ASSERT="${BENCH_ASSERT:-1}" ETCDMEDIC_BENCH_DIR="${1:-}" go test -tags fitnessbench -count=1 -run TestFsyncProbeAgainstFio -v ./health/ | grep -E 'round|side|mean|FAIL|ok|---'
