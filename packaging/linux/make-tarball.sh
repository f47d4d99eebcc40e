#!/usr/bin/env bash
# Package a frozen Quietroom bundle as a self-contained tarball that installs without root
# (called by packaging/build.sh).   make-tarball.sh BUNDLE VERSION ARCH DIST WORK
# The tarball holds quietroom-VERSION-linux-ARCH/ with the bundle, install.sh, uninstall.sh, the
# desktop entry and the icons; install.sh copies them into ~/.local (or /opt with --system).
set -euo pipefail
BUNDLE=$1 VERSION=$2 ARCH=$3 DIST=$4 WORK=$5
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NAME=quietroom-$VERSION-linux-$ARCH
STAGE=$WORK/tarball/$NAME
rm -rf "$WORK/tarball"
mkdir -p "$STAGE/share/applications" "$STAGE/share/icons/hicolor/scalable/apps" \
  "$STAGE/share/icons/hicolor/256x256/apps"
cp -a "$BUNDLE" "$STAGE/quietroom"
install -m 755 "$HERE/tarball/install.sh" "$HERE/tarball/uninstall.sh" "$STAGE/"
install -m 644 "$HERE/tarball/README.txt" "$STAGE/"
install -m 644 "$HERE/quietroom.desktop" "$STAGE/share/applications/"
install -m 644 "$REPO/resources/icons/quietroom.svg" "$STAGE/share/icons/hicolor/scalable/apps/"
install -m 644 "$REPO/resources/icons/quietroom-256.png" \
  "$STAGE/share/icons/hicolor/256x256/apps/quietroom.png"
echo "$VERSION" > "$STAGE/VERSION"
bash "$HERE/normalize-tree.sh" "$WORK/tarball"
# Sorted entries, fixed owner and times. xz (5.4 and later) in its multi-threaded mode (-T0)
# writes the same bytes whatever the number of threads (its block size does not depend on it).
tar --sort=name --format=gnu --owner=0 --group=0 --numeric-owner \
  --mtime="@$SOURCE_DATE_EPOCH" -C "$WORK/tarball" -cf - "$NAME" \
  | xz -T0 -6 > "$DIST/$NAME.tar.xz"
echo "make-tarball.sh: $DIST/$NAME.tar.xz" >&2
