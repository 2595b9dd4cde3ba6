#!/usr/bin/env bash
# Installs redis-server from Debian's packages when it is missing. The remote-tier tests start their
# own servers on loopback ports; nothing here starts or configures a service.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  redis-server --version
  exit 0
fi
SUDO=''
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO='sudo'; else
    echo 'install-redis: redis-server is missing and this user cannot install packages; install redis-server (>= 6.2) and rerun' >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends redis-server
# The package may start a system service; the tests never use it.
if command -v service >/dev/null 2>&1; then $SUDO service redis-server stop >/dev/null 2>&1 || true; fi
redis-server --version
