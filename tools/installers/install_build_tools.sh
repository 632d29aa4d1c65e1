#!/usr/bin/env bash
# What `pip install pesq` needs where PyPI has no wheel for this Python or platform: a C
# compiler and the Python headers (pesq is then built from source). Does nothing when both are
# there, or when a pesq wheel is available.
#   PYTHON=python3   the interpreter the venv is made from
set -euo pipefail
PYTHON=${PYTHON:-python3}
include=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
if command -v cc >/dev/null && [ -f "$include/Python.h" ]; then
    echo "build tools present (cc, $include/Python.h)"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if "$PYTHON" -m pip download -q --no-deps --only-binary=:all: -d "$tmp" pesq >/dev/null 2>&1; then
    echo "a pesq wheel exists for $PYTHON; no compiler needed"
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "install_build_tools.sh: pesq must be built from source: install a C compiler and the headers of $PYTHON ($include/Python.h)" >&2
    exit 1
fi
version=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
# python3.X-dev for a Debian interpreter; an interpreter built elsewhere (pyenv, conda) ships its headers.
pkgs=(build-essential)
[ -f "$include/Python.h" ] || pkgs+=("python${version}-dev")
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -o DPkg::Lock::Timeout=900 -y -qq "${pkgs[@]}"
