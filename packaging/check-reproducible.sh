#!/usr/bin/env bash
# Build the same commit twice into separate folders and compare the artifacts.
#   bash packaging/check-reproducible.sh [FIRST_DIST]
# With FIRST_DIST (a dist/ folder already built from this very commit, with no local change)
# only one more build is made.
# Prints the SHA-256 of each artifact from both builds; when they differ, unpacks both and lists
# the files inside that differ (the signatures are left out: each build signs with its own
# throwaway key unless a release key is given).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build/reproducible
rm -rf "$OUT" && mkdir -p "$OUT"
# Each build has its own build environments, made afresh, and its own work and output folders;
# the two run at the same time (the same code, the same commit).
build() {
  QUIETROOM_DIST=$PWD/$OUT/dist-$1 QUIETROOM_BUILD=$PWD/$OUT/work-$1 \
    QUIETROOM_BUILD_VENV=$PWD/$OUT/venv-$1 QUIETROOM_RELAY_VENV=$PWD/$OUT/relay-venv-$1 \
    bash packaging/build.sh >"$OUT/build-$1.log" 2>&1
}
if [ -n "${1:-}" ]; then
  FIRST=$(cd "$1" && pwd)
  build 2
else
  build 1 & first=$!
  build 2
  wait "$first"
  FIRST=$PWD/$OUT/dist-1
fi
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
