#!/usr/bin/env bash
# Source this to put mal's virtual environment on PATH (recipes' path.sh do).
_mal_tools=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ ! -f "$_mal_tools/venv/bin/activate" ]; then
    echo "mal: no virtual environment in $_mal_tools/venv; run: make -C $_mal_tools" >&2
    return 1 2>/dev/null || exit 1
fi
# shellcheck disable=SC1091
. "$_mal_tools/venv/bin/activate"
unset _mal_tools
