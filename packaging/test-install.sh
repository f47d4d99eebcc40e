#!/usr/bin/env bash
# Install every artifact in dist/ on a clean, minimal Debian system and check that it works.
#
#   bash packaging/test-install.sh            (after bash packaging/build.sh; needs root)
#
# For each artifact, a fresh root is unpacked from a cached debootstrap --variant=minbase tarball
# (build/clean-root/, made once from the Debian mirror this machine's apt uses). It has no Python
# at all. In it, as a plain user where a person would be one, the script:
#   1. checks SHA256SUMS and the minisign signatures (and that a tampered copy is refused);
#   2. installs the artifact (apt for a .deb, install.sh for the tarball);
#   3. runs `quietroom --version`, starts the app under Xvfb to its first-run window and takes a
#      screenshot (build/test-install/*.png), creates a vault with `quietroom init`;
#   4. uninstalls, and checks that nothing is left but the person's vault.
# The relay's .deb is installed in its own clean root, started, and asked for /healthz.
# Last, it prints the artifact sizes and the cold start to the first window, bundle vs venv.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DIST=${QUIETROOM_DIST:-$REPO/dist}
CACHE=$REPO/build/clean-root
OUT=$REPO/build/test-install
RUNS=${QUIETROOM_START_RUNS:-5}
[ "$(id -u)" = 0 ] || { echo "test-install.sh needs root (debootstrap, chroot)" >&2; exit 2; }
bash packaging/system-deps.sh debootstrap minisign xvfb x11-utils imagemagick curl
mkdir -p "$CACHE" "$OUT"
rm -f "$OUT"/*.png "$OUT"/*.txt

# ---------------------------------------------------------------------------------------------
# The clean Debian root, cached as a tarball.
SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
mirror() {  # the Debian mirror this machine's apt already uses
  local uri
  uri=$(grep -hoE '^(URIs:|deb) +[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
    2>/dev/null | awk '{print $2}' | grep -E '/debian/?$' | head -1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}
BASE=$CACHE/$SUITE-minbase.tar
if [ ! -f "$BASE" ]; then
  echo "test-install.sh: making the clean $SUITE root once (debootstrap from $(mirror))" >&2
  tmp=$(mktemp -d /tmp/packaging-debootstrap.XXXXXX)
  debootstrap --variant=minbase "$SUITE" "$tmp" "$(mirror)" >"$CACHE/debootstrap.log" 2>&1 \
    || { echo "debootstrap failed; see $CACHE/debootstrap.log" >&2; rm -rf "$tmp"; exit 1; }
  chroot "$tmp" apt-get clean
  tar -C "$tmp" -cf "$BASE.part" . && mv "$BASE.part" "$BASE"
  rm -rf "$tmp"
fi

ROOTS=()
cleanup() {
  local root
  for root in "${ROOTS[@]}"; do
    pkill_root "$root"
    umount "$root/proc" 2>/dev/null || true
    if grep -q " $root/" /proc/mounts; then
      echo "test-install.sh: $root still has mounts; not deleting it" >&2
    else
      rm -rf "$root"
    fi
  done
  [ -n "${XVFB_PID:-}" ] && kill "$XVFB_PID" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
pkill_root() {  # end the processes this script started inside a root (found by their root link)
  local proc left _
  for _ in $(seq 50); do
    left=0
    for proc in /proc/[0-9]*; do
      if [ "$(readlink "$proc/root" 2>/dev/null)" = "$1" ]; then
        kill "${proc#/proc/}" 2>/dev/null || true
        left=1
      fi
    done
    [ "$left" = 0 ] && return 0
    sleep 0.1
  done
}
fresh_root() {  # unpack the cached base into a new folder, and set $root to its path
  # (not echoed: in $(...) the ROOTS+= below would be lost, and cleanup would leave the root
  # behind with its /proc mounted)
  root=$(mktemp -d /tmp/packaging-root.XXXXXX)
  ROOTS+=("$root")
  tar -C "$root" -xf "$BASE"
  chmod 755 "$root"  # it is the new system's /, which every user must be able to enter
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  mount -t proc proc "$root/proc"
  chroot "$root" useradd --create-home --shell /bin/bash therapist
}
as_user() {  # as_user ROOT CMD...: run as the plain user, in a clean environment
  local root=$1; shift
  chroot --userspec=therapist:therapist "$root" env -i HOME=/home/therapist USER=therapist \
    PATH=/home/therapist/.local/bin:/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
    DISPLAY=":$DISPLAY_NUM" "$@"
}
apt_in() {
  local root=$1; shift
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get "$@" -y -qq -o=Dpkg::Use-Pty=0 \
    >>"$OUT/apt.log" 2>&1
}
fail() { echo "test-install.sh: FAILED: $*" >&2; exit 1; }
ok() { echo "  ok: $*"; }

# ---------------------------------------------------------------------------------------------
# A display for the app (abstract X socket, so the chroots reach it without a bind mount).
DISPLAY_NUM=$((100 + RANDOM % 400))
while [ -e "/tmp/.X11-unix/X$DISPLAY_NUM" ]; do DISPLAY_NUM=$((DISPLAY_NUM + 1)); done
Xvfb ":$DISPLAY_NUM" -screen 0 1280x900x24 -nolisten tcp >/dev/null 2>&1 &
XVFB_PID=$!
for _ in $(seq 50); do xdpyinfo -display ":$DISPLAY_NUM" >/dev/null 2>&1 && break; sleep 0.1; done

# ---------------------------------------------------------------------------------------------
# Signatures: what a person does before installing (docs/install.md, "Checking a download").
PUB=$DIST/minisign.pub
[ -f "$PUB" ] || PUB=$DIST/THROWAWAY-KEY-minisign.pub
[ -f "$PUB" ] || PUB=""
[ -n "$PUB" ] || fail "no public key in $DIST"
verify_in() {  # verify_in ROOT FOLDER ARTIFACT: the documented check, inside the clean root
  local root=$1 folder=$2 artifact=$3
  chroot "$root" sh -c "cd '$folder' && minisign -Vm SHA256SUMS -p minisign.pub -q \
    && grep ' $artifact\$' SHA256SUMS | sha256sum -c --quiet - \
    && minisign -Vm '$artifact' -p minisign.pub -q" >/dev/null 2>&1
}
stage_download() {  # stage_download ROOT ARTIFACT: the download folder as a person gets it
  local root=$1 artifact=$2 dl=$1/home/therapist/Downloads
  mkdir -p "$dl"
  cp "$DIST/$artifact" "$DIST/$artifact.minisig" "$DIST/SHA256SUMS" "$DIST/SHA256SUMS.minisig" "$dl/"
  cp "$PUB" "$dl/minisign.pub"
  chroot "$root" chown -R therapist:therapist /home/therapist/Downloads
}
check_signatures() {  # check_signatures ROOT ARTIFACT: genuine accepted, tampered refused
  local root=$1 artifact=$2 dl=/home/therapist/Downloads
  apt_in "$root" install --no-install-recommends minisign
  verify_in "$root" "$dl" "$artifact" || fail "$artifact: its signature or checksum does not verify"
  ok "$artifact: SHA256SUMS signature, checksum and artifact signature verify"
  mkdir -p "$root/tmp/tampered"
  cp "$root$dl"/* "$root/tmp/tampered/"
  local size; size=$(stat -c %s "$root/tmp/tampered/$artifact")
  printf '\x00' | dd of="$root/tmp/tampered/$artifact" bs=1 seek=$((size / 2)) conv=notrunc status=none
  if verify_in "$root" /tmp/tampered "$artifact"; then fail "$artifact: a tampered copy verified"; fi
  ok "$artifact: a copy with one byte changed is refused"
  rm -rf "$root/tmp/tampered"
}

# ---------------------------------------------------------------------------------------------
# The app: version, first-run window and screenshot, a vault from the command line, start times.
python_absent() {
  ! chroot "$1" sh -c 'command -v python3 || command -v python || ls /usr/lib/python3*/ ' >/dev/null 2>&1
}
window_id() {  # the id of the top-level window whose title starts with $1, or nothing
  xwininfo -display ":$DISPLAY_NUM" -root -children 2>/dev/null \
    | awk -v t="\"$1" 'index($0, t) {print $1; exit}'
}
screenshot_first_run() {  # screenshot_first_run ROOT COMMAND NAME
  local root=$1 cmd=$2 name=$3 id="" pid
  as_user "$root" "$cmd" --vault /home/therapist/first-run-vault >"$OUT/$name-app.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do id=$(window_id "Quietroom - set up"); [ -n "$id" ] && break; sleep 0.1; done
  [ -n "$id" ] || { cat "$OUT/$name-app.log" >&2; fail "$name: no first-run window within 30 s"; }
  sleep 2  # let it paint
  import -display ":$DISPLAY_NUM" -window "$id" "$OUT/$name-first-run.png"
  kill "$pid" 2>/dev/null || true
  pkill_root "$root"
  wait "$pid" 2>/dev/null || true
  ok "$name: first-run window shown; screenshot $OUT/$name-first-run.png"
}
start_times() {  # start_times LABEL CMD...: RUNS starts to the first window, in seconds
  local label=$1; shift
  local times
  times=$(python3 "$REPO/packaging/linux/time_start.py" "$RUNS" "$@") || fail "$label: no window"
  printf '%s|%s\n' "$label" "$times" >> "$OUT/start-times.txt"
}
check_app() {  # check_app ROOT COMMAND NAME: the checks common to the .deb and the tarball
  local root=$1 cmd=$2 name=$3 version
  version=$(as_user "$root" "$cmd" --version) || fail "$name: quietroom --version failed"
  [ "$version" = "quietroom $VERSION" ] || fail "$name: --version says '$version'"
  ok "$name: '$cmd --version' prints '$version'"
  python_absent "$root" || fail "$name: the clean root has a Python"
  ok "$name: no Python in the clean root"
  screenshot_first_run "$root" "$cmd" "$name"
  # Nothing phones home: the installed app, traced for 8 s from its start, opens no connection
  # to an internet address (tests/packaging/test_no_phone_home.py does the same from source).
  strace -f -qq -e trace=connect,sendto,sendmsg -o "$OUT/$name-strace.txt" \
    chroot --userspec=therapist:therapist "$root" env -i HOME=/home/therapist LANG=C.UTF-8 \
    DISPLAY=":$DISPLAY_NUM" "$cmd" --vault /home/therapist/strace-vault >/dev/null 2>&1 &
  local tracer=$!
  sleep 8
  pkill_root "$root"
  wait "$tracer" 2>/dev/null || true
  grep -q 'connect(' "$OUT/$name-strace.txt" || fail "$name: strace saw no connect at all (no X?)"
  if grep -E 'sa_family=AF_INET6?[,}]' "$OUT/$name-strace.txt" >&2; then
    fail "$name: the app opened a connection to an internet address"
  fi
  ok "$name: running 8 s, it connected to nothing but local sockets (strace)"
  printf '%s\n' "a calm river under seven quiet lanterns" > "$root/home/therapist/passphrase.txt"
  as_user "$root" "$cmd" --vault /home/therapist/vault init --kdf-profile owasp-min \
    --passphrase-file /home/therapist/passphrase.txt >"$OUT/$name-init.txt" 2>&1 \
    || { cat "$OUT/$name-init.txt" >&2; fail "$name: quietroom init failed"; }
  as_user "$root" "$cmd" --vault /home/therapist/vault status >"$OUT/$name-status.txt" 2>&1 \
    || fail "$name: quietroom status failed on the new vault"
  [ -f "$root/home/therapist/vault/vault.header" ] || fail "$name: no vault.header after init"
  ok "$name: 'quietroom init' created a vault (owasp-min profile); 'quietroom status' reads it"
  start_times "$name (in the clean root)" chroot --userspec=therapist:therapist "$root" env -i \
    HOME=/home/therapist DISPLAY=":$DISPLAY_NUM" LANG=C.UTF-8 QUIETROOM_STARTUP_PROBE=1 "$cmd" \
    --vault "/home/therapist/probe-vault"
}

DEB=$(cd "$DIST" && find . -maxdepth 1 -name 'quietroom_*.deb' -printf '%f\n' | head -1)
[ -n "$DEB" ] || fail "no quietroom_*.deb in $DIST: run packaging/build.sh first"
VERSION=$(echo "$DEB" | sed -E 's/^quietroom_([^_]+)_.*/\1/')
TARBALL=$(cd "$DIST" && find . -maxdepth 1 -name "quietroom-$VERSION-linux-*.tar.xz" -printf '%f\n' | head -1)
[ -n "$TARBALL" ] || fail "no tarball in $DIST"
: > "$OUT/start-times.txt"

echo "== $DEB"
fresh_root
stage_download "$root" "$DEB"
check_signatures "$root" "$DEB"
# apt refuses nothing that verifies, so the refusal is ours: a tampered .deb is never installed.
apt_in "$root" install --no-install-recommends "/home/therapist/Downloads/$DEB" \
  || fail "$DEB: apt could not install it"
ok "$DEB: installed with apt (its dependencies from the Debian mirror)"
[ -f "$root/usr/share/applications/quietroom.desktop" ] || fail "$DEB: no desktop entry"
[ -f "$root/usr/share/icons/hicolor/scalable/apps/quietroom.svg" ] || fail "$DEB: no icon"
check_app "$root" quietroom deb
apt_in "$root" purge quietroom || fail "$DEB: apt purge failed"
[ ! -e "$root/usr/lib/quietroom" ] && [ ! -e "$root/usr/bin/quietroom" ] \
  && [ ! -e "$root/usr/share/applications/quietroom.desktop" ] || fail "$DEB: files left after purge"
[ -f "$root/home/therapist/vault/vault.header" ] || fail "$DEB: uninstalling removed the vault"
ok "$DEB: purged; no files left; the therapist's vault is still there"

echo "== $TARBALL"
fresh_root
stage_download "$root" "$TARBALL"
check_signatures "$root" "$TARBALL"
apt_in "$root" install --no-install-recommends xz-utils
as_user "$root" tar -C /home/therapist -xf "/home/therapist/Downloads/$TARBALL"
folder=/home/therapist/${TARBALL%.tar.xz}
# On a minimal system the graphics libraries are missing: install.sh must name them.
if as_user "$root" "$folder/install.sh" >"$OUT/tarball-install-1.txt" 2>&1; then
  fail "$TARBALL: install.sh did not notice the missing graphics libraries"
fi
grep -q "libGL\|libEGL\|libxcb" "$OUT/tarball-install-1.txt" || fail "$TARBALL: install.sh did not name the missing libraries"
ok "$TARBALL: on a system without graphics libraries install.sh names them: $(grep -c 'lib' "$OUT/tarball-install-1.txt") lines"
apt_in "$root" install --no-install-recommends libgl1 libegl1 libxcb1 fonts-dejavu-core
as_user "$root" "$folder/install.sh" >"$OUT/tarball-install-2.txt" 2>&1 \
  || { cat "$OUT/tarball-install-2.txt" >&2; fail "$TARBALL: install.sh failed"; }
[ -f "$root/home/therapist/.local/share/applications/quietroom.desktop" ] || fail "$TARBALL: no desktop entry"
grep -q "^Exec=/home/therapist/.local/lib/quietroom/quietroom" \
  "$root/home/therapist/.local/share/applications/quietroom.desktop" || fail "$TARBALL: desktop entry's Exec"
ok "$TARBALL: installed for the user without root (~/.local), menu entry and icon in place"
check_app "$root" /home/therapist/.local/bin/quietroom tarball
as_user "$root" /home/therapist/.local/lib/quietroom/uninstall.sh >/dev/null || fail "$TARBALL: uninstall.sh failed"
[ ! -e "$root/home/therapist/.local/lib/quietroom" ] && [ ! -e "$root/home/therapist/.local/bin/quietroom" ] \
  && [ ! -e "$root/home/therapist/.local/share/applications/quietroom.desktop" ] || fail "$TARBALL: files left"
[ -f "$root/home/therapist/vault/vault.header" ] || fail "$TARBALL: uninstalling removed the vault"
ok "$TARBALL: uninstalled; no files left; the vault is still there"

RELAY_DEB=$(cd "$DIST" && find . -maxdepth 1 -name 'quietroom-relay_*.deb' -printf '%f\n' | head -1)
if [ -n "$RELAY_DEB" ]; then
  echo "== $RELAY_DEB"
  fresh_root
  stage_download "$root" "$RELAY_DEB"
  check_signatures "$root" "$RELAY_DEB"
  apt_in "$root" install --no-install-recommends "/home/therapist/Downloads/$RELAY_DEB" \
    || fail "$RELAY_DEB: apt could not install it"
  ok "$RELAY_DEB: installed with apt"
  for heavy in PySide6 shiboken6 aiortc av sqlcipher3; do
    [ ! -e "$root/usr/lib/quietroom-relay/_internal/$heavy" ] || fail "$RELAY_DEB: carries $heavy"
  done
  python_absent "$root" || fail "$RELAY_DEB: the clean root has a Python"
  ok "$RELAY_DEB: no Qt, aiortc, PyAV or SQLCipher in it; no Python on the system"
  grep -q '^ExecStart=/usr/bin/quietroom-relay ' "$root/lib/systemd/system/quietroom-relay@.service" \
    || fail "$RELAY_DEB: the systemd unit does not start /usr/bin/quietroom-relay"
  for example in caddy/Caddyfile.in coturn/turnserver.conf.in relay.toml.in; do
    [ -f "$root/usr/share/quietroom-relay/examples/$example" ] || fail "$RELAY_DEB: no $example"
  done
  chroot "$root" getent passwd quietroom-relay >/dev/null || fail "$RELAY_DEB: no service user"
  [ "$(stat -c %a "$root/var/lib/quietroom-relay")" = 700 ] || fail "$RELAY_DEB: state folder mode"
  ok "$RELAY_DEB: systemd unit, Caddy/coturn/relay examples, service user, state folder 0700"
  chroot "$root" quietroom-relay --help >"$OUT/relay-help.txt" || fail "$RELAY_DEB: --help failed"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  creds=/var/lib/quietroom-relay/credentials.json
  chroot --userspec=quietroom-relay:quietroom-relay "$root" quietroom-relay \
    --credentials-file "$creds" credentials issue --label "test-install" >"$OUT/relay-credential.txt" 2>&1 \
    || { cat "$OUT/relay-credential.txt" >&2; fail "$RELAY_DEB: credentials issue failed"; }
  chroot --userspec=quietroom-relay:quietroom-relay "$root" quietroom-relay --host 127.0.0.1 \
    --port "$port" --credentials-file "$creds" >"$OUT/relay.log" 2>&1 &
  health=""
  for _ in $(seq 100); do
    health=$(curl -fsS "http://127.0.0.1:$port/healthz" 2>/dev/null) && break
    sleep 0.1
  done
  pkill_root "$root"
  [ -n "$health" ] || { cat "$OUT/relay.log" >&2; fail "$RELAY_DEB: /healthz did not answer"; }
  ok "$RELAY_DEB: started as the service user; /healthz answered: $health"
  apt_in "$root" purge quietroom-relay || fail "$RELAY_DEB: apt purge failed"
  [ ! -e "$root/usr/lib/quietroom-relay" ] && [ ! -e "$root/var/lib/quietroom-relay" ] \
    || fail "$RELAY_DEB: files left after purge"
  ok "$RELAY_DEB: purged"
fi

# ---------------------------------------------------------------------------------------------
# Figures: sizes, and start to the first window: bundle (host and clean root) vs the venv.
echo "== figures"
host_bundle=$(mktemp -d /tmp/packaging-bundle.XXXXXX)
ROOTS+=("$host_bundle")
tar -C "$host_bundle" -xf "$DIST/$TARBALL"
probe_env=(env -i HOME="$host_bundle" DISPLAY=":$DISPLAY_NUM" LANG=C.UTF-8 PATH=/usr/bin:/bin
  QUIETROOM_STARTUP_PROBE=1
  XDG_STATE_HOME="$host_bundle/state" XDG_CONFIG_HOME="$host_bundle/config")
start_times "bundle (this machine)" "${probe_env[@]}" "$host_bundle/${TARBALL%.tar.xz}/quietroom/quietroom" \
  --vault "$host_bundle/probe-vault"
VENV=${QUIETROOM_BUILD_VENV:-$REPO/build/packaging-venv}
if [ -x "$VENV/bin/quietroom" ]; then
  start_times "virtual environment (this machine)" "${probe_env[@]}" "$VENV/bin/quietroom" \
    --vault "$host_bundle/probe-vault"
fi
{
  mib() { python3 -c 'import sys; print(f"{int(sys.argv[1]) / 1048576:7.1f} MiB")' "$1"; }
  echo "artifact sizes:"
  for f in "$DIST"/*.deb "$DIST"/*.tar.xz; do
    printf '  %-46s %s\n' "$(basename "$f")" "$(mib "$(stat -c %s "$f")")"
  done
  printf '  %-46s %s\n' "the bundle, installed" \
    "$(mib "$(du -sb "$host_bundle/${TARBALL%.tar.xz}/quietroom" | cut -f1)")"
  printf '  %-46s %s\n' "the virtual environment (build/packaging-venv)" "$(mib "$(du -sb "$VENV" | cut -f1)")"
  echo "start to the first-run window under Xvfb ($RUNS starts each: the first, then the median of the others):"
  python3 - "$OUT/start-times.txt" <<'PY'
import statistics, sys
for line in open(sys.argv[1]):
    label, times = line.rstrip("\n").split("|")
    t = [float(x) for x in times.split()]
    print(f"  {label:46s} first {t[0]:.2f} s, median {statistics.median(t[1:] or t):.2f} s")
PY
} | tee "$OUT/figures.txt"
echo "test-install.sh: all artifacts installed, started, verified and uninstalled"
