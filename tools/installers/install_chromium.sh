#!/usr/bin/env bash
# Debian Chromium for the headless test of the listening page (test/score/test_page_chromium.py).
set -euo pipefail
if command -v chromium >/dev/null; then
    echo "chromium present: $(chromium --version 2>/dev/null || echo unknown version)"
    exit 0
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -o DPkg::Lock::Timeout=900 -y -qq --no-install-recommends chromium
chromium --version
