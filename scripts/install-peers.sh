#!/usr/bin/env bash
# Installs what `npm run bench:peers` compares against beyond npm packages: a Redis server
# (Debian's redis-server). The suite starts it itself on a free loopback port with persistence
# off, and lists Redis as skipped when it is not installed. Needs root (or sudo) and apt.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  echo "redis-server already installed: $(redis-server --version)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq redis-server >/dev/null
# Debian starts a system service on install; the suite runs its own instance, so stop that one.
$SUDO systemctl disable --now redis-server >/dev/null 2>&1 || $SUDO service redis-server stop >/dev/null 2>&1 || true
echo "installed: $(redis-server --version)"
