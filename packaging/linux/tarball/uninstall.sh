#!/usr/bin/env bash
# Remove Quietroom as installed by install.sh (run from the install folder or the unpacked
# tarball). Your vault, settings and backups are NOT removed: they are yours.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LIST=$HERE/installed-files
if [ ! -f "$LIST" ]; then
  for candidate in "$HOME/.local/lib/quietroom" /opt/quietroom; do
    [ -f "$candidate/installed-files" ] && LIST=$candidate/installed-files && break
  done
fi
[ -f "$LIST" ] || { echo "uninstall.sh: Quietroom does not seem to be installed" >&2; exit 1; }
mapfile -t files < "$LIST"
for f in "${files[@]:1}"; do rm -f "$f"; done
rm -rf "${files[0]}"
echo "Quietroom is uninstalled. Your vault and backups were left where they are."
