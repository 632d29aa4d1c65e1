#!/usr/bin/env bash
# Make tools/venv (a virtual environment inside the repo) and install mal editable into it.
#   TORCH_VERSION=2.13.0 (default; a CPU wheel here)  e.g. TORCH_VERSION=2.5.1 for your CUDA build
#   TORCH_INDEX_URL=...  optional extra index (e.g. https://download.pytorch.org/whl/cu121)
#   PYTHON=python3       interpreter used to create the venv
#   MAL_EXTRAS=test,deepfeature,dns   pip extras to install
set -euo pipefail
tools_dir=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$tools_dir")
venv="$tools_dir/venv"
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
MAL_EXTRAS=${MAL_EXTRAS:-test,deepfeature,dns}

if [ ! -x "$venv/bin/python" ]; then
    "$PYTHON" -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"
pip install -q --upgrade pip setuptools wheel
index_args=()
[ -n "${TORCH_INDEX_URL:-}" ] && index_args=(--extra-index-url "$TORCH_INDEX_URL")
pip install -q "torch==${TORCH_VERSION}" "${index_args[@]}"
MAL_TORCH_SPEC="torch==${TORCH_VERSION}" pip install -q -e "$root[${MAL_EXTRAS}]" "${index_args[@]}"
# Pre-trained GE2E speaker encoder weights ship inside this wheel; its own deps (librosa,
# webrtcvad) are not needed: mal reads only the weights file.
pip install -q --no-deps resemblyzer
touch "$venv/.mal_installed"
echo "mal installed in $venv (torch $(python -c 'import torch; print(torch.__version__)'))"
