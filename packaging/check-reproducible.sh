#!/usr/bin/env bash
# Build the same commit twice into separate folders and compare the artifacts.
#   bash packaging/check-reproducible.sh [FIRST_DIST]
# With FIRST_DIST (a dist/ folder already built from this commit) only one more build is made.
# Prints the SHA-256 of each artifact from both builds; when they differ, unpacks both and lists
# the files inside that differ (the signatures are left out: each build signs with its own
# throwaway key unless a release key is given).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build/reproducible
rm -rf "$OUT" && mkdir -p "$OUT"
if [ -n "${1:-}" ]; then
  FIRST=$(cd "$1" && pwd)
else
  QUIETROOM_DIST=$PWD/$OUT/dist-1 QUIETROOM_BUILD=$PWD/$OUT/work-1 bash packaging/build.sh >"$OUT/build-1.log" 2>&1
  FIRST=$PWD/$OUT/dist-1
fi
QUIETROOM_DIST=$PWD/$OUT/dist-2 QUIETROOM_BUILD=$PWD/$OUT/work-2 bash packaging/build.sh >"$OUT/build-2.log" 2>&1
SECOND=$PWD/$OUT/dist-2

unpack() {  # unpack ARTIFACT DIR: the artifact's files, as installed
  mkdir -p "$2"
  case "$1" in
    *.deb) dpkg-deb -R "$1" "$2" ;;
    *.tar.xz) tar -C "$2" -xf "$1" ;;
  esac
}
status=0
for a in "$FIRST"/*.deb "$FIRST"/*.tar.xz; do
  name=$(basename "$a")
  one=$(sha256sum < "$a" | cut -c1-64)
  two=$(sha256sum < "$SECOND/$name" | cut -c1-64)
  if [ "$one" = "$two" ]; then
    echo "same      $one  $name"
  else
    status=1
    echo "DIFFERENT $one / $two  $name"
    unpack "$a" "$OUT/unpacked-1/$name"
    unpack "$SECOND/$name" "$OUT/unpacked-2/$name"
    diff -rq "$OUT/unpacked-1/$name" "$OUT/unpacked-2/$name" | sed 's/^/    /' | head -40 || true
  fi
done
exit $status
