#!/usr/bin/env bash
# Make a staged file tree reproducible before it is archived: permissions from the umask-free
# rules below (executables 755, the rest 644, folders 755) and every time stamp set to
# SOURCE_DATE_EPOCH. Usage: normalize-tree.sh DIR
set -euo pipefail
: "${SOURCE_DATE_EPOCH:?}"
find "$1" -type d -exec chmod 755 {} +
find "$1" -type f -perm /111 -exec chmod 755 {} +
find "$1" -type f ! -perm /111 -exec chmod 644 {} +
find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
