#!/usr/bin/env bash
# The whole test suite, as CI runs it: vet, formatting, then every test against
# real etcd members. Real etcd release binaries for the compatibility matrix
# (v3.5, v3.6, v3.7) are built from the Go module proxy first and cached under
# ${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}, so only the first run pays for them.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== go vet"
go vet ./...

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

# promtool (Debian's prometheus package) checks every generated metrics and
# rules file; fio is the reference the node fitness probe is benchmarked
# against. Installed once, only when missing.
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v fio >/dev/null || missing+=(fio)
# node_exporter's textfile collector reads doctor --metrics-file in the
# exporter's Prometheus end-to-end test.
command -v prometheus-node-exporter >/dev/null || missing+=(prometheus-node-exporter)
# podman (with runc: crun refuses this machine's hybrid cgroup layout) runs
# the daemonless image for real in scripts/imagebuild's test.
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || missing+=(runc)
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null; then
  echo "== installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi

if [ -x scripts/build-etcd.sh ]; then
  echo "== etcd release binaries for the compatibility matrix"
  scripts/build-etcd.sh
fi

if [ -x scripts/build-kube-apiserver.sh ]; then
  # The break-glass end-to-end test starts a real kube-apiserver from the
  # manifest etcdmedic generates. Built once from the module proxy (about 10
  # minutes on 2 idle cores), then cached like the etcd binaries.
  echo "== kube-apiserver for the break-glass end-to-end test"
  scripts/build-kube-apiserver.sh
  export ETCDMEDIC_E2E_APISERVER=1
fi

if [ -x scripts/build-minio.sh ]; then
  # The off-host snapshot tests (save --to s3://, the kill -9 mid-upload
  # test) run against a real MinIO on loopback, built from the module proxy
  # once and cached. With ETCDMEDIC_MINIO set, a test that cannot start it
  # fails instead of skipping.
  echo "== MinIO for the off-host snapshot tests"
  ETCDMEDIC_MINIO=$(scripts/build-minio.sh | tail -n 1)
  export ETCDMEDIC_MINIO
fi

if [ -x scripts/build-fake-gcs.sh ]; then
  # gs:// is tested against fake-gcs-server (Google's JSON API on loopback),
  # built once from the module proxy and cached. With ETCDMEDIC_FAKE_GCS set,
  # a test that cannot start it fails instead of skipping.
  echo "== fake-gcs-server for the gs:// snapshot tests"
  ETCDMEDIC_FAKE_GCS=$(scripts/build-fake-gcs.sh | tail -n 1)
  export ETCDMEDIC_FAKE_GCS
fi

if [ -x scripts/install-azurite.sh ]; then
  # azblob:// is tested against Azurite, Microsoft's storage emulator (npm),
  # installed once and cached. With ETCDMEDIC_AZURITE set, a test that
  # cannot start it fails instead of skipping.
  echo "== Azurite for the azblob:// snapshot tests"
  ETCDMEDIC_AZURITE=$(scripts/install-azurite.sh | tail -n 1)
  export ETCDMEDIC_AZURITE
fi

if [ -x scripts/build-helm.sh ]; then
  # deploy/helm's tests lint and render the chart with a real helm, built
  # once from the module proxy and cached like the etcd binaries.
  echo "== helm for the chart tests"
  scripts/build-helm.sh
fi

echo "== go test"
go test -timeout 80m "$@" ./...

if [ -d scripts/imagebuild ]; then
  # The daemonless image build is a module of its own (go-containerregistry
  # stays out of the main go.mod); its test builds both platforms' images.
  echo "== image build (scripts/imagebuild)"
  if command -v podman >/dev/null; then export ETCDMEDIC_PODMAN=1; fi
  (cd scripts/imagebuild && go vet ./... && go test -timeout 40m ./...)
fi
