#!/usr/bin/env bash
# Write SHA256SUMS for every artifact in DIST and sign each artifact and SHA256SUMS with minisign.
#   sign.sh DIST VERSION
# Release key: QUIETROOM_MINISIGN_KEY=/path/to/secret.key (password-protected: minisign asks for
# the password once, on the terminal or from standard input), QUIETROOM_MINISIGN_PUB=its public
# key (default packaging/signing/quietroom-release.pub). Without a release key, a throwaway key
# pair is generated for this build in build/packaging/signing/ (no password) and its public key is copied
# to DIST/THROWAWAY-KEY-minisign.pub, so that nobody mistakes it for the release key.
set -euo pipefail
DIST=$1 VERSION=$2
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$DIST"
mapfile -t artifacts < <(find . -maxdepth 1 -type f \( -name '*.deb' -o -name '*.tar.xz' \
  -o -name '*.exe' -o -name '*.dmg' -o -name '*.msi' \) -printf '%f\n' | sort)
[ ${#artifacts[@]} -gt 0 ] || { echo "sign.sh: nothing to sign in $DIST" >&2; exit 1; }
sha256sum "${artifacts[@]}" > SHA256SUMS

if [ -n "${QUIETROOM_MINISIGN_KEY:-}" ]; then
  KEY=$QUIETROOM_MINISIGN_KEY
  PUB=${QUIETROOM_MINISIGN_PUB:-$REPO/packaging/signing/quietroom-release.pub}
  cp "$PUB" minisign.pub
  echo "sign.sh: signing with the release key $KEY" >&2
else
  WORKKEY=${QUIETROOM_BUILD:-$REPO/build/packaging}/signing
  rm -rf "$WORKKEY" && mkdir -p "$WORKKEY" && chmod 700 "$WORKKEY"
  minisign -G -W -p "$WORKKEY/throwaway.pub" -s "$WORKKEY/throwaway.key" >/dev/null
  KEY=$WORKKEY/throwaway.key
  cp "$WORKKEY/throwaway.pub" THROWAWAY-KEY-minisign.pub
  echo "sign.sh: no QUIETROOM_MINISIGN_KEY: signed with a THROWAWAY key made for this build" >&2
fi
# One minisign run signs every file, so the release key's password is asked once. Each
# signature's trusted comment (signed too) names its file and the signing time.
minisign -S -s "$KEY" -m "${artifacts[@]}" SHA256SUMS >/dev/null
echo "sign.sh: SHA256SUMS and ${#artifacts[@]}+1 signatures for Quietroom $VERSION" >&2
