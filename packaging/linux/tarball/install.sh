#!/usr/bin/env bash
# Install Quietroom from this unpacked folder.
#   ./install.sh            for you only: ~/.local/lib/quietroom, the `quietroom` command in
#                           ~/.local/bin, the menu entry and icon in ~/.local/share (no root)
#   sudo ./install.sh --system   for everyone: /opt/quietroom, /usr/local/bin, /usr/local/share
# Your vault is not in these folders: it is in your per-user data folder, and uninstall.sh
# never touches it.
set -euo pipefail
SRC=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" = --system ]; then
  LIB=/opt/quietroom BIN=/usr/local/bin SHARE=/usr/local/share
else
  LIB=$HOME/.local/lib/quietroom BIN=$HOME/.local/bin SHARE=${XDG_DATA_HOME:-$HOME/.local/share}
fi
mkdir -p "$LIB" "$BIN" "$SHARE/applications" "$SHARE/icons/hicolor/scalable/apps" \
  "$SHARE/icons/hicolor/256x256/apps"
# Replace an older version as a whole (no stale files from it).
rm -rf "$LIB.new"
cp -a "$SRC/quietroom" "$LIB.new"
cp "$SRC/uninstall.sh" "$SRC/VERSION" "$LIB.new/"
rm -rf "$LIB" && mv "$LIB.new" "$LIB"
ln -sfn "$LIB/quietroom" "$BIN/quietroom"
sed "s|^Exec=quietroom|Exec=$LIB/quietroom|" "$SRC/share/applications/quietroom.desktop" \
  > "$SHARE/applications/quietroom.desktop"
cp "$SRC/share/icons/hicolor/scalable/apps/quietroom.svg" "$SHARE/icons/hicolor/scalable/apps/"
cp "$SRC/share/icons/hicolor/256x256/apps/quietroom.png" "$SHARE/icons/hicolor/256x256/apps/"
{ printf '%s\n' "$LIB" "$BIN/quietroom" "$SHARE/applications/quietroom.desktop" \
    "$SHARE/icons/hicolor/scalable/apps/quietroom.svg" "$SHARE/icons/hicolor/256x256/apps/quietroom.png"
} > "$LIB/installed-files"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$SHARE/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$SHARE/icons/hicolor" 2>/dev/null || true

# The few libraries Quietroom takes from the system (the graphics stack, which must match the
# computer's drivers). Name the missing ones rather than fail at start with a cryptic message.
missing=$(LD_LIBRARY_PATH="$LIB/_internal" ldd "$LIB/_internal/PySide6/Qt/plugins/platforms/libqxcb.so" \
  "$LIB/_internal/PySide6/Qt/lib/libQt6Gui.so.6" 2>/dev/null | awk '/not found/ {print $1}' | sort -u || true)
echo "Quietroom $(cat "$SRC/VERSION") is installed in $LIB."
case ":$PATH:" in *":$BIN:"*) ;; *) echo "Add $BIN to your PATH to use the 'quietroom' command." ;; esac
if [ -n "$missing" ]; then
  echo "These system libraries are missing; install them with your package manager"
  echo "(Debian/Ubuntu: sudo apt install libgl1 libegl1 libxcb1 libfontconfig1):"
  echo "$missing" | sed 's/^/  /'
  exit 3
fi
