#!/usr/bin/env bash
# Package a frozen Quietroom bundle as a Debian package (called by packaging/build.sh).
#   make-deb.sh BUNDLE VERSION ARCH DIST WORK
# Layout: /usr/lib/quietroom/ (the bundle), /usr/bin/quietroom -> ../lib/quietroom/quietroom,
# the desktop entry and the icons in the standard places (desktop-file-utils' and
# hicolor-icon-theme's dpkg triggers refresh the menus and icon caches: no maintainer scripts).
set -euo pipefail
BUNDLE=$1 VERSION=$2 ARCH=$3 DIST=$4 WORK=$5
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROOT=$WORK/deb-root
rm -rf "$ROOT"
mkdir -p "$ROOT/DEBIAN" "$ROOT/usr/lib" "$ROOT/usr/bin" "$ROOT/usr/share/applications" \
  "$ROOT/usr/share/icons/hicolor/scalable/apps" "$ROOT/usr/share/icons/hicolor/256x256/apps" \
  "$ROOT/usr/share/doc/quietroom"
cp -a "$BUNDLE" "$ROOT/usr/lib/quietroom"
ln -s ../lib/quietroom/quietroom "$ROOT/usr/bin/quietroom"
install -m 644 "$HERE/quietroom.desktop" "$ROOT/usr/share/applications/quietroom.desktop"
install -m 644 "$REPO/resources/icons/quietroom.svg" "$ROOT/usr/share/icons/hicolor/scalable/apps/"
install -m 644 "$REPO/resources/icons/quietroom-256.png" \
  "$ROOT/usr/share/icons/hicolor/256x256/apps/quietroom.png"
install -m 644 "$HERE/copyright" "$ROOT/usr/share/doc/quietroom/copyright"

DEPENDS=$(python3 "$HERE/deb_depends.py" "$ROOT/usr/lib/quietroom")
SIZE=$(du -sk --apparent-size "$ROOT/usr" | cut -f1)
cat > "$ROOT/DEBIAN/control" <<CONTROL
Package: quietroom
Version: $VERSION
Architecture: $ARCH
Maintainer: Quietroom maintainers <maintainers@quietroom.invalid>
Installed-Size: $SIZE
Depends: $DEPENDS, fontconfig-config, libopus0, fonts-dejavu-core | fonts-liberation2 | fonts-noto-core
Recommends: desktop-file-utils, hicolor-icon-theme
Section: misc
Priority: optional
Description: encrypted practice records and video sessions for therapists
 Quietroom keeps clients, sessions and notes in an encrypted vault on the
 therapist's own computer, records every access in a tamper-evident audit log,
 makes encrypted backups, and runs end-to-end encrypted video sessions with
 clients who join from a web browser.
 .
 This package bundles its own Python, Qt, SQLCipher and video codecs.
CONTROL
(cd "$ROOT" && find usr -type f -print0 | sort -z | xargs -0 md5sum > DEBIAN/md5sums)
bash "$HERE/normalize-tree.sh" "$ROOT"
dpkg-deb --root-owner-group -Zxz -z6 --build "$ROOT" "$DIST/quietroom_${VERSION}_${ARCH}.deb" >/dev/null
echo "make-deb.sh: $DIST/quietroom_${VERSION}_${ARCH}.deb" >&2
