#!/usr/bin/env bash
# Builds alink-agent_<version>_<arch>.deb from this checkout with dpkg-deb (no debhelper):
#
#   npm run package:deb                      # or: bash deploy/debian/build.sh [--out DIR]
#
# Needs what `npm ci` needs (g++, make, python3, Node >= 20 with its headers) plus dpkg-deb. The agent is built
# with tsc (dev dependencies of this checkout), its production dependencies are installed fresh from the lockfile
# into the package tree, so native modules (better-sqlite3, the notify addon) are compiled for THIS machine's
# architecture, Node ABI and libc: build on the target (a Raspberry Pi for arm64) or in a container of the target's
# architecture and Debian release (deploy/README.md). Output: DIR (default dist/deb), printed on the last line.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="$ROOT/dist/deb"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    *) echo "usage: $0 [--out DIR]" >&2; exit 2 ;;
  esac
done
command -v dpkg-deb >/dev/null || { echo "dpkg-deb not found: build on Debian or Raspberry Pi OS" >&2; exit 1; }

VERSION="$(node -p "require('$ROOT/package.json').version")"
ARCH="$(dpkg --print-architecture)"
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
[ "$NODE_MAJOR" -ge 20 ] || { echo "Node >= 20 needed, found $(node -v)" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/alink-deb-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
PKG="$WORK/pkg"
APP="$PKG/opt/alink-agent"
DEB="$ROOT/deploy/debian"
t0=$(date +%s)

echo "== tsc build"
(cd "$ROOT" && npm run --silent build)

echo "== production dependencies from the lockfile, native modules built for $ARCH / node $(node -v)"
mkdir -p "$APP/native"
cp "$ROOT/package.json" "$ROOT/package-lock.json" "$APP/"
# the root package's install script builds native/: it must be in place before npm ci
cp -r "$ROOT/native/package.json" "$ROOT/native/index.js" "$ROOT/native/binding.gyp" "$ROOT/native/src" "$ROOT/native/scripts" "$APP/native/"
(cd "$APP" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
(cd "$APP" && node -e "require('./native'); require('better-sqlite3')(':memory:').close()") \
  || { echo "the notify addon or better-sqlite3 did not build" >&2; exit 1; }
node "$ROOT/deploy/scripts/strip-build.js" "$APP"
rm -rf "$APP/package-lock.json" "$APP/native/binding.gyp" "$APP/native/scripts" "$APP/native/src"

echo "== the agent"
mkdir -p "$APP/dist" "$APP/simulator"
for d in agent thing-model handlers simulator; do cp -r "$ROOT/dist/$d" "$APP/dist/"; done
find "$APP/dist" \( -name '*.map' -o -name '*.d.ts' \) -delete
chmod 0755 "$APP/dist/agent/cli/main.js" "$APP/dist/simulator/cli.js"
# the simulator's example product, so `alink-sim serve` works on the gateway for a first try
cp -r "$ROOT/simulator/tsl" "$ROOT/simulator/simulator.config.json" "$APP/simulator/"
cp "$ROOT/README.md" "$APP/"

install -d -m 0755 "$PKG/usr/bin" "$PKG/lib/systemd/system" "$PKG/usr/lib/sysusers.d" "$PKG/usr/share/alink-agent" "$PKG/usr/share/doc/alink-agent"
ln -s ../../opt/alink-agent/dist/agent/cli/main.js "$PKG/usr/bin/alink-agent"
ln -s ../../opt/alink-agent/dist/simulator/cli.js "$PKG/usr/bin/alink-sim"
install -m 0644 "$ROOT/deploy/systemd/alink-agent.service" "$PKG/lib/systemd/system/alink-agent.service"
install -m 0644 "$ROOT/deploy/systemd/alink-agent.sysusers.conf" "$PKG/usr/lib/sysusers.d/alink-agent.conf"
install -m 0644 "$ROOT/simulator/tsl/example-gateway.json" "$PKG/usr/share/alink-agent/example-gateway.tsl.json"
install -m 0644 "$DEB/README.Debian" "$DEB/copyright" "$PKG/usr/share/doc/alink-agent/"
# root:root 0750/0640 in the archive: never world-readable, not even between unpack and postinst (which sets the group)
install -d -m 0750 "$PKG/etc/alink-agent"
install -m 0640 "$DEB/agent.config.example.json" "$PKG/etc/alink-agent/agent.config.example.json"

install -d -m 0755 "$PKG/DEBIAN"
SIZE_KB="$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)"
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE_KB/" "$DEB/control.in" > "$PKG/DEBIAN/control"
echo /etc/alink-agent/agent.config.example.json > "$PKG/DEBIAN/conffiles"
install -m 0755 "$DEB/postinst" "$DEB/prerm" "$DEB/postrm" "$PKG/DEBIAN/"
(cd "$PKG" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum > DEBIAN/md5sums)

mkdir -p "$OUT"
FILE="$OUT/alink-agent_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$PKG" "$FILE" >/dev/null
echo "== built in $(( $(date +%s) - t0 )) s: installed size ${SIZE_KB} kB, package $(du -k "$FILE" | cut -f1) kB"
echo "$FILE"
