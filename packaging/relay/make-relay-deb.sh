#!/usr/bin/env bash
# Freeze the relay alone and package it as quietroom-relay_VERSION_ARCH.deb (called by build.sh).
#   make-relay-deb.sh UNUSED_APP_VENV APP_VERSION ARCH DIST WORK
# The relay is built in its own environment holding only packaging/deploy/python (quietroom-relay) and
# its light dependencies, so no Qt, aiortc or SQLCipher can end up in it; the script checks.
# Layout: /usr/lib/quietroom-relay/ (the bundle), /usr/bin/quietroom-relay, the systemd unit
# quietroom-relay@.service (from packaging/deploy/systemd, ExecStart pointed at /usr/bin), and packaging/deploy/'s
# Caddy, coturn, Redis and relay configuration templates in /usr/share/quietroom-relay/examples/.
set -euo pipefail
ARCH=$3 DIST=$4 WORK=$5
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VENV=${QUIETROOM_RELAY_VENV:-$REPO/build/relay-venv}
stamp=$(cat "$REPO/packaging/deploy/python/pyproject.toml" "$REPO/packaging/requirements-build.txt" | sha256sum | cut -c1-16)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip 2>>"$REPO/build/pip.log"
  "$VENV/bin/python" -m pip install -q -r "$REPO/packaging/requirements-build.txt" 2>>"$REPO/build/pip.log"
  echo "$stamp" > "$VENV/.stamp"
fi
# setuptools builds the wheel inside packaging/deploy/python: builds at once take turns (build.sh).
LOCK=$REPO/build/.source-tree.lock
flock "$LOCK" "$VENV/bin/python" -m pip install -q "$REPO/packaging/deploy/python" >/dev/null 2>>"$REPO/build/pip.log"
flock "$LOCK" "$VENV/bin/python" -m pip install -q --force-reinstall --no-deps "$REPO/packaging/deploy/python" >/dev/null 2>>"$REPO/build/pip.log"
VERSION=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("quietroom-relay"))')

echo "make-relay-deb.sh: freezing quietroom-relay $VERSION" >&2
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath "$WORK/relay-frozen" --workpath "$WORK/relay-pyinstaller" "$HERE/relay.spec"
BUNDLE=$WORK/relay-frozen/quietroom-relay
for heavy in PySide6 shiboken6 aiortc av sqlcipher3; do
  [ ! -e "$BUNDLE/_internal/$heavy" ] || { echo "make-relay-deb.sh: $heavy is in the relay bundle" >&2; exit 1; }
done
dangling=$(find "$BUNDLE" -xtype l)
[ -z "$dangling" ] || { echo "make-relay-deb.sh: dangling symbolic links in the bundle:" $dangling >&2; exit 1; }
"$BUNDLE/quietroom-relay" --help >/dev/null

ROOT=$WORK/relay-deb-root
rm -rf "$ROOT"
mkdir -p "$ROOT/DEBIAN" "$ROOT/usr/lib" "$ROOT/usr/bin" "$ROOT/lib/systemd/system" \
  "$ROOT/usr/share/quietroom-relay/examples" "$ROOT/usr/share/doc/quietroom-relay"
cp -a "$BUNDLE" "$ROOT/usr/lib/quietroom-relay"
ln -s ../lib/quietroom-relay/quietroom-relay "$ROOT/usr/bin/quietroom-relay"
unit=$REPO/packaging/deploy/systemd/quietroom-relay@.service
grep -q '^ExecStart=/opt/quietroom-relay/bin/quietroom-relay ' "$unit" \
  || { echo "make-relay-deb.sh: $unit's ExecStart changed; update this script" >&2; exit 1; }
sed 's|^ExecStart=/opt/quietroom-relay/bin/quietroom-relay |ExecStart=/usr/bin/quietroom-relay |' \
  "$unit" > "$ROOT/lib/systemd/system/quietroom-relay@.service"
(cd "$REPO/packaging/deploy" && find caddy coturn redis systemd relay.toml.in ice.json.in -type f -print0 \
  | xargs -0 -I{} install -D -m 644 {} "$ROOT/usr/share/quietroom-relay/examples/{}")
install -m 644 "$HERE/README.Debian" "$ROOT/usr/share/doc/quietroom-relay/README.Debian"
install -m 644 "$REPO/packaging/linux/copyright" "$ROOT/usr/share/doc/quietroom-relay/copyright"
install -m 755 "$HERE/postinst" "$HERE/postrm" "$ROOT/DEBIAN/"

DEPENDS=$(python3 "$REPO/packaging/linux/deb_depends.py" "$ROOT/usr/lib/quietroom-relay")
SIZE=$(du -sk --apparent-size "$ROOT/usr" "$ROOT/lib" | awk '{s += $1} END {print s}')
cat > "$ROOT/DEBIAN/control" <<CONTROL
Package: quietroom-relay
Version: $VERSION
Architecture: $ARCH
Maintainer: Quietroom maintainers <maintainers@quietroom.invalid>
Installed-Size: $SIZE
Depends: $DEPENDS, adduser
Suggests: caddy, coturn, redis-server
Section: net
Priority: optional
Description: signalling relay for Quietroom video sessions (server)
 The relay serves the client's session page and pairs the two sides of each
 end-to-end encrypted session; it sees only sealed messages. This package is
 the relay alone, without the desktop app (no Qt), with a hardened systemd
 unit (quietroom-relay@PORT.service) and example Caddy, coturn and Redis
 configuration in /usr/share/quietroom-relay/examples.
CONTROL
(cd "$ROOT" && find usr lib -type f -print0 | sort -z | xargs -0 md5sum > DEBIAN/md5sums)
bash "$REPO/packaging/linux/normalize-tree.sh" "$ROOT"
dpkg-deb --root-owner-group -Zxz -z6 --build "$ROOT" "$DIST/quietroom-relay_${VERSION}_${ARCH}.deb" >/dev/null
echo "make-relay-deb.sh: $DIST/quietroom-relay_${VERSION}_${ARCH}.deb" >&2
