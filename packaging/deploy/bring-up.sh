#!/usr/bin/env bash
# The UPPER_CASE settings below are read by render() through ${!name} (every @NAME@ in a template),
# which shellcheck cannot follow:
# shellcheck disable=SC2034
# Bring up a Quietroom relay server: Caddy (https, automatic certificates), two or more relay
# instances sharing rooms through Redis, and coturn (TURN with relay-minted credentials, TURN over
# TLS on port 443 of its own address). Run from a Quietroom checkout (or the unpacked source).
#
# On a fresh Debian 12 server, as root:
#   QR_DOMAIN=relay.example.org QR_TURN_DOMAIN=turn.example.org \
#   QR_RELAY_IP=203.0.113.10 QR_TURN_IP=203.0.113.11 QR_EMAIL=ops@example.org \
#     bash packaging/deploy/bring-up.sh
# DNS: QR_DOMAIN -> QR_RELAY_IP, QR_TURN_DOMAIN -> QR_TURN_IP. Firewall: 80+443/tcp on the relay
# address; 3478/udp+tcp, 443/tcp and 49152-65535/udp on the TURN address.
# It prints the first practice credential at the end (issue more with
#   sudo -u quietroom-relay /opt/quietroom-relay/bin/quietroom-relay \
#        --config /etc/quietroom-relay/relay.toml credentials issue --label "...").
#
# QR_LOCAL=1: the same stack on this machine for tests and trying out, without systemd or
# installing anything system-wide: loopback only, Caddy's internal CA ("tls internal"), ports and
# folders from QR_PREFIX, QR_HTTPS_PORT, QR_HTTP_PORT, QR_TURN_PORT, QR_TURNS_PORT,
# QR_RELAY_PORTS ("8701 8702"), processes started in the background (pids in $QR_PREFIX/run);
# 'bash packaging/deploy/bring-up.sh stop' (with QR_LOCAL=1 QR_PREFIX=...) stops them.
# QR_RELAY_PYTHON=<python with the relay importable> skips the relay's venv install.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
local_mode="${QR_LOCAL:-0}"
render_only="${QR_RENDER_ONLY:-0}"  # write the production configuration under QR_PREFIX, stop
read -r -a instances <<< "${QR_RELAY_PORTS:-8701 8702}"

say() { echo "bring-up: $*" >&2; }
die() { echo "bring-up: $*" >&2; exit 1; }

if [ "$local_mode" = 1 ] || [ "$render_only" = 1 ]; then
  prefix="${QR_PREFIX:?QR_PREFIX (a folder) is required with QR_LOCAL=1 or QR_RENDER_ONLY=1}"
  ETC="$prefix/etc/quietroom-relay"; STATE="$prefix/var/lib/quietroom-relay"
  RUN="$prefix/run"; LOG="$prefix/log"
else
  prefix=""
  ETC=/etc/quietroom-relay; STATE=/var/lib/quietroom-relay; RUN=/run/quietroom-relay
  LOG=/var/log/quietroom-relay
fi

stop_local() {
  for pidfile in "$RUN"/*.pid; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

if [ "${1:-}" = stop ]; then
  [ "$local_mode" = 1 ] || die "'stop' is for QR_LOCAL=1; on a server use systemctl"
  stop_local
  exit 0
fi

# -- packages ---------------------------------------------------------------------------------
need=(caddy coturn redis-server python3-venv openssl)
missing=()
for pkg in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ] && [ "$render_only" != 1 ]; then
  [ "$(id -u)" = 0 ] || die "install these Debian packages first: ${missing[*]}"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# -- settings ---------------------------------------------------------------------------------
if [ "$local_mode" = 1 ]; then
  DOMAIN=localhost
  RELAY_IP=127.0.0.1
  TURN_IP=127.0.0.1
  # A name, not an address: Firefox uses TURN over TLS only with a host name to verify.
  TURN_HOST=localhost
  HTTPS_PORT="${QR_HTTPS_PORT:-8443}"
  HTTP_PORT="${QR_HTTP_PORT:-8080}"
  TURN_PORT="${QR_TURN_PORT:-3478}"
  TURNS_PORT="${QR_TURNS_PORT:-5349}"
  SITE="localhost:$HTTPS_PORT, 127.0.0.1:$HTTPS_PORT"
  TLS="tls internal"
  CADDY_GLOBAL="admin off
	http_port $HTTP_PORT
	https_port $HTTPS_PORT
	skip_install_trust
	storage file_system $STATE/caddy"
  MIN_PORT=40000; MAX_PORT=49999
  EXTERNAL_IP=""
  # Both browsers of a test live on this machine: allow loopback peers (a server never does).
  TEST_ONLY="allow-loopback-peers
verbose"
  RELAY_ONLY="${QR_RELAY_ONLY:-true}"
  TURN_SITES=""
else
  if [ "$render_only" != 1 ]; then
    [ "$(id -u)" = 0 ] || die "run as root"
    command -v systemctl >/dev/null || die "systemd is needed (or QR_LOCAL=1 for a local stack)"
  fi
  DOMAIN="${QR_DOMAIN:?QR_DOMAIN, the relay host name, is required}"
  TURN_DOMAIN="${QR_TURN_DOMAIN:-turn.$DOMAIN}"
  RELAY_IP="${QR_RELAY_IP:?QR_RELAY_IP (the address Caddy serves on) is required}"
  TURN_IP="${QR_TURN_IP:?QR_TURN_IP (a second address, for TURN over TLS on 443) is required}"
  [ "$RELAY_IP" != "$TURN_IP" ] || die "TURN over TLS on 443 needs its own address (QR_TURN_IP)"
  TURN_HOST="$TURN_DOMAIN"
  HTTPS_PORT=443; HTTP_PORT=80; TURN_PORT=3478; TURNS_PORT=443
  SITE="$DOMAIN"
  TLS="tls ${QR_EMAIL:?QR_EMAIL (for the certificate authority) is required}"
  CADDY_GLOBAL="default_bind $RELAY_IP"
  MIN_PORT=49152; MAX_PORT=65535
  EXTERNAL_IP="${QR_EXTERNAL_IP:+external-ip=$QR_EXTERNAL_IP}"
  TEST_ONLY=""
  RELAY_ONLY="${QR_RELAY_ONLY:-false}"
  # Caddy obtains the TURN name's certificate (HTTP challenge answered on the TURN address's
  # port 80; its 443 is coturn's), and quietroom-turn-cert copies it to coturn on renewal.
  TURN_SITES="
$TURN_DOMAIN {
	tls {
		issuer acme {
			email $QR_EMAIL
			disable_tlsalpn_challenge
		}
	}
	respond 404
}

http://$TURN_DOMAIN {
	bind $TURN_IP
	respond 404
}"
fi
REDIS_SOCKET="$RUN/redis.sock"
STUN_URLS="\"stun:$TURN_HOST:$TURN_PORT\""
TURN_URLS="\"turn:$TURN_HOST:$TURN_PORT?transport=udp\", \"turn:$TURN_HOST:$TURN_PORT?transport=tcp\", \"turns:$TURN_HOST:$TURNS_PORT?transport=tcp\""
if [ "$local_mode" = 1 ] && [ "${QR_TURNS_ONLY:-0}" = 1 ]; then
  # Only TURN over TLS (as for a client whose network lets nothing but https-like traffic out).
  STUN_URLS=""
  TURN_URLS="\"turns:$TURN_HOST:$TURNS_PORT?transport=tcp\""
  TEST_ONLY="$TEST_ONLY
no-udp
no-tcp"
fi
upstreams=""
for port in "${instances[@]}"; do upstreams+="127.0.0.1:$port "; done

mkdir -p "$ETC" "$STATE" "$RUN" "$LOG"
chmod 0750 "$ETC" "$STATE"

# Secrets are made once and kept (re-running the script keeps every credential working).
secret_file="$STATE/turn-secret"
[ -s "$secret_file" ] || (umask 077; openssl rand -hex 32 >"$secret_file")
TURN_SECRET="$(cat "$secret_file")"

if [ "$local_mode" = 1 ]; then
  TURN_CERT="${QR_TURN_CERT:-$ETC/turn-cert.pem}"
  TURN_KEY="${QR_TURN_KEY:-$ETC/turn-key.pem}"
  TURN_CA="$ETC/turn-ca.pem"
  if [ ! -s "$TURN_CERT" ]; then
    # A throwaway CA and a server certificate it signs (browsers refuse a CA certificate as a
    # server's own): what a public CA and its certificate are on a real server.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=Quietroom local TURN CA" -addext "basicConstraints=critical,CA:TRUE" \
      -keyout "$ETC/turn-ca-key.pem" -out "$TURN_CA" 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -subj "/CN=localhost" -keyout "$TURN_KEY" -out "$ETC/turn.csr" 2>/dev/null
    printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$ETC/turn.ext"
    openssl x509 -req -in "$ETC/turn.csr" -CA "$TURN_CA" -CAkey "$ETC/turn-ca-key.pem" \
      -CAcreateserial -days 2 -extfile "$ETC/turn.ext" -out "$TURN_CERT" 2>/dev/null
    rm -f "$ETC/turn-ca-key.pem" "$ETC/turn.csr" "$ETC/turn.ext"
  fi
else
  TURN_CERT="$ETC/turn/fullchain.pem"
  TURN_KEY="$ETC/turn/privkey.pem"
fi

render() {  # template -> destination, replacing every @NAME@ with $NAME
  local src="$1" dst="$2" text
  text="$(cat "$src")"
  for name in ETC STATE RUN LOG DOMAIN TURN_HOST TURN_IP TURN_PORT TURNS_PORT TURN_SECRET \
              RELAY_ONLY REDIS_SOCKET SITE TLS CADDY_GLOBAL MIN_PORT MAX_PORT EXTERNAL_IP \
              TEST_ONLY TURN_CERT TURN_KEY STUN_URLS TURN_URLS TURN_SITES; do
    text="${text//@$name@/${!name}}"
  done
  text="${text//@UPSTREAMS@/$upstreams}"
  text="${text//@REALM@/$DOMAIN}"
  (umask 027; printf '%s\n' "$text" >"$dst")
}

render "$here/relay.toml.in" "$ETC/relay.toml"
render "$here/ice.json.in" "$ETC/ice.json"
render "$here/caddy/Caddyfile.in" "$ETC/Caddyfile"
render "$here/coturn/turnserver.conf.in" "$ETC/turnserver.conf"
render "$here/redis/redis.conf.in" "$ETC/redis.conf"
chmod 0600 "$ETC/ice.json" "$ETC/turnserver.conf"
if [ "$render_only" = 1 ]; then
  say "configuration written under $prefix"
  exit 0
fi

# -- the relay ----------------------------------------------------------------------------------
if [ -n "${QR_RELAY_PYTHON:-}" ]; then
  relay=("$QR_RELAY_PYTHON" -m telehealth.relay_cli)
else
  venv_dir="${prefix}/opt/quietroom-relay"
  if [ ! -x "$venv_dir/bin/quietroom-relay" ]; then
    say "installing the relay into $venv_dir"
    python3 -m venv "$venv_dir"
    "$venv_dir/bin/pip" install -q --disable-pip-version-check "$repo/packaging/deploy/python"
  fi
  relay=("$venv_dir/bin/quietroom-relay")
fi
relay+=(--config "$ETC/relay.toml")

if [ "$local_mode" = 1 ]; then
  stop_local
  start() {  # name, command...
    local name="$1"; shift
    "$@" >"$LOG/$name.log" 2>&1 &
    echo $! >"$RUN/$name.pid"
  }
  start redis redis-server "$ETC/redis.conf"
  for _ in $(seq 100); do [ -S "$REDIS_SOCKET" ] && break; sleep 0.05; done
  [ -S "$REDIS_SOCKET" ] || die "redis did not start: $(tail -5 "$LOG/redis.log")"
  start coturn turnserver -c "$ETC/turnserver.conf"
  for port in "${instances[@]}"; do
    start "relay-$port" "${relay[@]}" --port "$port"
  done
  XDG_DATA_HOME="$STATE" XDG_CONFIG_HOME="$STATE" start caddy caddy run --config "$ETC/Caddyfile" --adapter caddyfile
  # Ready when every instance and Caddy answer /healthz.
  for port in "${instances[@]}"; do
    for _ in $(seq 200); do
      curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05
    done
  done
  ca="$STATE/caddy/pki/authorities/local/root.crt"
  for _ in $(seq 200); do
    [ -s "$ca" ] && curl -fsS --cacert "$ca" "https://localhost:$HTTPS_PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.05
  done
  curl -fsS --cacert "$ca" "https://localhost:$HTTPS_PORT/healthz" >/dev/null \
    || die "Caddy does not answer: $(tail -5 "$LOG/caddy.log")"
  if [ ! -s "$STATE/credentials.json" ]; then
    "${relay[@]}" credentials issue --label "first practice" --json >"$STATE/first-credential.json"
  fi
  cat <<EOF
QR_URL=https://localhost:$HTTPS_PORT
QR_CA=$ca
QR_CREDENTIAL_FILE=$STATE/first-credential.json
QR_TURN_CA=${TURN_CA:-}
EOF
  exit 0
fi

# -- a real server ------------------------------------------------------------------------------
id quietroom-relay >/dev/null 2>&1 || useradd --system --home-dir "$STATE" --shell /usr/sbin/nologin quietroom-relay
chown -R quietroom-relay:quietroom-relay "$STATE"
chgrp quietroom-relay "$ETC" "$ETC/relay.toml" "$ETC/ice.json"
chmod 0640 "$ETC/relay.toml" "$ETC/ice.json"
usermod -a -G redis quietroom-relay
mkdir -p "$ETC/turn"

# Redis: Debian's service with our socket-only settings.
install -m 0640 -o redis -g redis "$ETC/redis.conf" /etc/redis/redis.conf
sed -i "s#^unixsocket .*#unixsocket /run/redis/redis.sock#; s#^dir .*#dir /var/lib/redis#" /etc/redis/redis.conf
sed -i "s#unix://.*\"#unix:///run/redis/redis.sock\"#" "$ETC/relay.toml"

# Caddy: our site, and the TURN name (its certificate only; coturn serves that address's 443).
install -m 0644 "$ETC/Caddyfile" /etc/caddy/Caddyfile

# coturn: reads the certificate Caddy obtained for the TURN name (copied on every renewal).
install -m 0640 -o root -g turnserver "$ETC/turnserver.conf" /etc/turnserver.conf
sed -i "s#^userdb=.*#userdb=/var/lib/turn/turndb#; s#^pidfile=.*#pidfile=/run/turnserver/turnserver.pid#; s#^log-file=.*#syslog#" /etc/turnserver.conf
sed -i 's/^#*TURNSERVER_ENABLED=.*/TURNSERVER_ENABLED=1/' /etc/default/coturn 2>/dev/null || true
cat >/usr/local/sbin/quietroom-turn-cert <<EOF
#!/bin/sh
# Copy Caddy's certificate for $TURN_DOMAIN where coturn reads it, then reload coturn.
set -e
d=/var/lib/caddy/.local/share/caddy/certificates/acme-v02.api.letsencrypt.org-directory/$TURN_DOMAIN
[ -s "\$d/$TURN_DOMAIN.crt" ] || exit 0
install -m 0640 -o root -g turnserver "\$d/$TURN_DOMAIN.crt" $ETC/turn/fullchain.pem
install -m 0640 -o root -g turnserver "\$d/$TURN_DOMAIN.key" $ETC/turn/privkey.pem
systemctl try-reload-or-restart coturn
EOF
chmod 0755 /usr/local/sbin/quietroom-turn-cert
install -m 0644 "$here/systemd/quietroom-turn-cert.service" /etc/systemd/system/
sed "s#@CERT_DIR@#/var/lib/caddy/.local/share/caddy/certificates/acme-v02.api.letsencrypt.org-directory/$TURN_DOMAIN#" \
  "$here/systemd/quietroom-turn-cert.path.in" >/etc/systemd/system/quietroom-turn-cert.path

install -m 0644 "$here/systemd/quietroom-relay@.service" /etc/systemd/system/
systemctl daemon-reload
systemctl enable --now redis-server
systemctl restart redis-server
for port in "${instances[@]}"; do systemctl enable --now "quietroom-relay@$port"; done
systemctl enable --now caddy
systemctl reload caddy || systemctl restart caddy
systemctl enable --now quietroom-turn-cert.path
for _ in $(seq 60); do /usr/local/sbin/quietroom-turn-cert && [ -s "$ETC/turn/fullchain.pem" ] && break; sleep 5; done
systemctl enable coturn
systemctl restart coturn

curl -fsS "https://$DOMAIN/healthz" >/dev/null || die "https://$DOMAIN/healthz does not answer yet"
if [ ! -s "$STATE/credentials.json" ]; then
  say "the first practice credential (give it to the practice; it is shown only now):"
  runuser -u quietroom-relay -- "${relay[@]}" credentials issue --label "first practice"
fi
say "done: https://$DOMAIN/j/ serves the client page"
