#!/usr/bin/env bash
# Build the installable artifacts for this platform into dist/ (Linux: a .deb, a self-contained
# tarball, and the relay's .deb), with SHA256SUMS and minisign signatures. See docs/install.md.
#
#   bash packaging/build.sh
#
# Signing: with QUIETROOM_MINISIGN_KEY=/path/to/release.key (password-protected; minisign asks
# for the password on the terminal, or reads it from standard input) the artifacts are signed with
# the release key, and QUIETROOM_MINISIGN_PUB names its public key (default:
# packaging/signing/quietroom-release.pub). Without it, a throwaway key is made for this build
# only (build/signing/), so that test-install.sh can check the whole signing path; it is never a
# release key and is never committed.
#
# Reproducibility: everything is stamped with SOURCE_DATE_EPOCH (the commit's time), archives
# have sorted entries owned by root, and PYTHONHASHSEED is fixed; packaging/check-reproducible.sh
# builds twice and compares.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
[ "$(uname -s)" = Linux ] || { echo "build.sh builds the Linux artifacts; see packaging/ci/ for Windows and macOS" >&2; exit 2; }

DIST=${QUIETROOM_DIST:-$REPO/dist}
WORK=${QUIETROOM_BUILD:-$REPO/build/packaging}
VENV=${QUIETROOM_BUILD_VENV:-$REPO/build/packaging-venv}
ARCH=$(dpkg --print-architecture)

# Tools for the build, and the X/xcb libraries the Qt platform plugin links (they are bundled).
bash packaging/system-deps.sh binutils dpkg-dev minisign xz-utils \
  libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-image0 libxcb-render-util0 libxcb-shape0 \
  libxcb-xkb1 libxkbcommon-x11-0 libxcb-randr0 libxcb-xfixes0 libxcb-sync1 libxcb-xinerama0

SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 LC_ALL=C.UTF-8 TZ=UTC
umask 022
mkdir -p "$REPO/build"

# 1. A build environment with Quietroom installed as users get it (a wheel, not editable), so the
#    freezer sees exactly the files the wheel ships. Rebuilt when pyproject.toml changes.
stamp=$(sha256sum pyproject.toml packaging/requirements-build.txt | sha256sum | cut -c1-16)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip 2>>"$REPO/build/pip.log"
  "$VENV/bin/python" -m pip install -q -r packaging/requirements-build.txt 2>>"$REPO/build/pip.log"
  echo "$stamp" > "$VENV/.stamp"
fi
# Our own code changes at every commit: reinstall it (and any new dependency) each time.
# setuptools builds the wheel inside the source tree (build/lib, build/bdist.*, *.egg-info): two
# builds at once (check-reproducible.sh) take turns there, or one fails with "File exists".
LOCK=$REPO/build/.source-tree.lock
flock "$LOCK" "$VENV/bin/python" -m pip install -q . >/dev/null 2>>"$REPO/build/pip.log"
flock "$LOCK" "$VENV/bin/python" -m pip install -q --force-reinstall --no-deps . >/dev/null 2>>"$REPO/build/pip.log"
VERSION=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("quietroom"))')

rm -rf "$WORK" "$DIST"
mkdir -p "$WORK" "$DIST"

# 2. Freeze the desktop app (one folder: quietroom/quietroom + quietroom/_internal/).
echo "build.sh: freezing Quietroom $VERSION with PyInstaller" >&2
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath "$WORK/frozen" --workpath "$WORK/pyinstaller" packaging/pyinstaller/quietroom.spec
BUNDLE=$WORK/frozen/quietroom
"$VENV/bin/python" packaging/linux/check_bundle.py "$BUNDLE"
QT_QPA_PLATFORM=offscreen "$BUNDLE/quietroom" --version

# 3. The desktop .deb and the tarball.
bash packaging/linux/make-deb.sh "$BUNDLE" "$VERSION" "$ARCH" "$DIST" "$WORK"
bash packaging/linux/make-tarball.sh "$BUNDLE" "$VERSION" "$ARCH" "$DIST" "$WORK"

# 4. The relay's own .deb (no Qt), when the relay can be built on its own (packaging/relay/).
if [ -f packaging/relay/relay.spec ]; then
  bash packaging/relay/make-relay-deb.sh "$VENV" "$VERSION" "$ARCH" "$DIST" "$WORK"
fi

# 5. Checksums and signatures.
bash packaging/signing/sign.sh "$DIST" "$VERSION"
echo "build.sh: artifacts in $DIST:" >&2
(cd "$DIST" && ls -l)
