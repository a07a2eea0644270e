#!/usr/bin/env bash
# Stale-pod purge (issue 6) on 200,000 pods plus decoys, side by side in one run:
#   ours-inprocess  breakglass.Purge, --rate unlimited, one pod modified between read and delete
#   reference       a plain paged keys-only read + unconditional deletes in 128-op transactions
#   cli             etcdmedic breakglass purge-pods --yes --rate 0 as a child process (peak RSS)
#   per-request     one Delete RPC per key (first 5,000 matching keys)
# It fails unless exactly the matching pods go, every decoy survives, the
# modified pod survives and the archive restores the rest, and if the CLI's
# peak RSS exceeds 150 MB. Targets: ours/ref128 >= 0.8.
#
# Not part of `go test ./...`: it is a Go benchmark, run only with -bench.
# Takes a few minutes (seeding 200k pods dominates).
set -euo pipefail
cd "$(dirname "$0")/.."
exec go test ./breakglass -run '^$' -bench Purge200k -benchtime 1x -timeout 60m -v "$@"
