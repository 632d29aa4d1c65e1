#!/usr/bin/env bash
# Make tools/venv (a virtual environment inside the repo) and install mal editable into it.
#   TORCH_VERSION=2.13.0 (default)   e.g. TORCH_VERSION=2.5.1 for your CUDA build
#   TORCH_BUILD=auto     auto: the CUDA build when a GPU is found (nvidia-smi), else the CPU
#                        build; cpu or cuda to choose
#   TORCH_INDEX_URL=...  optional extra index (e.g. https://download.pytorch.org/whl/cu121); set,
#                        it replaces the choice above
#   PYTHON=python3       interpreter used to create the venv
#   MAL_EXTRAS=all       pip extras to install (setup.py lists them; "" for the core only)
#   MAL_CONSTRAINTS=tools/constraints.txt   versions CI used (pip -c, for CI's Python); "" for the newest
set -euo pipefail
tools_dir=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$tools_dir")
venv="$tools_dir/venv"
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
TORCH_BUILD=${TORCH_BUILD:-auto}
MAL_EXTRAS=${MAL_EXTRAS-all}
MAL_CONSTRAINTS=${MAL_CONSTRAINTS-$tools_dir/constraints.txt}
CPU_INDEX_URL=https://download.pytorch.org/whl/cpu

if [ ! -x "$venv/bin/python" ]; then
    "$PYTHON" -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"
pip install -q --upgrade pip setuptools wheel
index_args=()
[ -n "${TORCH_INDEX_URL:-}" ] && index_args=(--extra-index-url "$TORCH_INDEX_URL")
TORCH_BUILD=$(TORCH_BUILD=$TORCH_BUILD bash "$tools_dir/installers/torch_build.sh")
installed=$(python -c 'import torch; print(torch.__version__)' 2>/dev/null || true)
if [ -n "${TORCH_INDEX_URL:-}" ] || [ "$TORCH_BUILD" = cuda ] || [ "$(uname -s)" != Linux ]; then
    # PyPI's Linux wheel is the CUDA build; macOS and Windows wheels are CPU-only anyway.
    case "$installed" in
        "$TORCH_VERSION" | "$TORCH_VERSION+cu"*) ;;
        *)  # a CPU build of the same version would count as installed: remove it first
            [ -n "$installed" ] && pip uninstall -q -y torch
            pip install -q "torch==${TORCH_VERSION}" "${index_args[@]}" ;;
    esac
elif [ "$installed" != "${TORCH_VERSION}+cpu" ]; then
    # The CPU build (a few hundred MB, not GBs of CUDA libraries): a local or cached +cpu wheel
    # when pip finds one, else PyTorch's CPU index.
    pip install -q "torch==${TORCH_VERSION}+cpu" 2>/dev/null ||
        pip install -q "torch==${TORCH_VERSION}+cpu" --extra-index-url "$CPU_INDEX_URL"
fi
constraint_args=()
if [ -n "$MAL_CONSTRAINTS" ]; then
    # The pins are for the Python CI ran (its "# python: X.Y" line); others need other wheels.
    pinned=$(sed -n 's/^# python: *//p' "$MAL_CONSTRAINTS")
    ours=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [ "$pinned" = "$ours" ]; then
        constraint_args=(-c "$MAL_CONSTRAINTS")
    else
        echo "setup.sh: $MAL_CONSTRAINTS pins versions for Python $pinned; this is Python $ours: installing the newest versions"
    fi
fi
target="$root"
[ -n "$MAL_EXTRAS" ] && target="$root[${MAL_EXTRAS}]"
MAL_TORCH_SPEC="torch==${TORCH_VERSION}" pip install -q -e "$target" "${index_args[@]}" "${constraint_args[@]}"
# Pre-trained GE2E speaker encoder weights ship inside this wheel; its own deps (librosa,
# webrtcvad) are not needed: mal reads only the weights file.
pip install -q --no-deps resemblyzer
touch "$venv/.mal_installed"
echo "mal installed in $venv (torch $(python -c 'import torch; print(torch.__version__)'))"
