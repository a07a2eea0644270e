#!/usr/bin/env bash
# Inventory against etcdctl on 1,000,000 keys, side by side in one run.
#
# Seeds a one-member playground with 1,000,000 small keys spread evenly over
# five Kubernetes resources and 50 namespaces, then runs, each as its own
# process on the same data:
#   etcdmedic inventory --keys-only -o json
#   etcdmedic inventory -o json                (values too)
#   etcdctl get "" --prefix --keys-only        (etcd v3.7.3, the module version etcdmedic links)
# and prints peak RSS (the kernel's ru_maxrss) and wall time of each, and the
# ratios. The keys-only inventory and etcdctl alternate BENCH_ROUNDS times
# (default 3); each is credited with its best wall time and highest RSS. It fails if the inventory's per-resource counts are not exact.
# Targets (issue 3): RSS <= 1/4 of etcdctl's, wall <= 1.25x etcdctl's.
#
# Not part of `go test ./...`: it is a Go benchmark, run only with -bench.
# Takes about a minute (seeding ~20 s); run it on an otherwise quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# etcdctl of the etcd version go.mod links; built only when missing.
etcdctl="${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}/etcd/v3.7.3/bin/etcdctl"
[ -x "$etcdctl" ] || scripts/build-etcd.sh v3.7.3 >/dev/null
exec go test ./commands/inventory -run '^$' -bench InventoryMillionKeys -benchtime 1x -timeout 30m -v "$@"
