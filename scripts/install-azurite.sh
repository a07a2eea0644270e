#!/usr/bin/env bash
# Install Azurite, Microsoft's Azure Storage emulator (MIT, Node.js), from npm
# for the azblob:// snapshot tests (issue 18). Installed for the tests only.
#
#   scripts/install-azurite.sh            # AZURITE_VERSION, default below
#   scripts/install-azurite.sh 3.35.0
#
# Lands in ${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}/azurite/<version>/ and is
# reused while its azurite-blob answers --version; prints the path of
# azurite-blob. Needs node and npm (Debian: apt-get install nodejs npm; this
# script installs them when missing). About 20 s the first time.
#
# Exit status: 0 installed or cached, 1 install failed, 64 usage error.
set -euo pipefail

VERSION=${1:-${AZURITE_VERSION:-3.35.0}}
case "$VERSION" in
  [0-9]*.[0-9]*.[0-9]*) ;;
  -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;;
  *) echo "install-azurite: version must look like 3.35.0, got $VERSION" >&2; exit 64 ;;
esac

DIR="${ETCDMEDIC_CACHE:-$HOME/.cache/etcdmedic}/azurite/$VERSION"
BIN="$DIR/node_modules/.bin/azurite-blob"
if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
  echo "$BIN"
  exit 0
fi
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  echo "install-azurite: installing nodejs and npm from Debian" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >&2
fi
mkdir -p "$DIR"
echo "install-azurite: npm install azurite@$VERSION" >&2
npm install --prefix "$DIR" --no-audit --no-fund --silent "azurite@$VERSION" >&2
"$BIN" --version >&2
echo "$BIN"
