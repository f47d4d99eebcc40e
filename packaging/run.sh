#!/usr/bin/env bash
# Install Quietroom from this checkout into .venv and start it (Linux and macOS).
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v dpkg-query >/dev/null; then bash packaging/system-deps.sh; fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q .
exec .venv/bin/quietroom "$@"
