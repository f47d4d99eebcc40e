#!/usr/bin/env bash
# Debian packages Quietroom needs beyond Python: the libraries Qt loads (also offscreen) and, for
# the browser tests, Chromium and Firefox ESR (.ci/test names them). Installs only what is
# missing; needs root and apt-get.
set -euo pipefail
want=(libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0
      fonts-dejavu-core "$@")
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "Please install these packages (Debian/Ubuntu names): ${missing[*]}" >&2
  exit 0
fi
echo "Installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
