#!/usr/bin/env bash
# Write tools/constraints.txt from tools/venv: the versions CI installed (pip freeze), without
# mal itself and torch (its version and build come from TORCH_VERSION / TORCH_BUILD).
set -euo pipefail
tools_dir=$(cd "$(dirname "$0")" && pwd)
{
    echo "# Versions CI used: \`tools/freeze_constraints.sh\` (pip freeze of tools/venv)."
    echo "# python: $("$tools_dir/venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    echo "# tools/setup.sh installs with \`pip -c\` on this file when the venv's Python is the one above"
    echo "# (other Pythons need other wheels: it installs the newest then); MAL_CONSTRAINTS= never uses it."
    echo "# By hand: pip install -c tools/constraints.txt 'mal[all]'"
    "$tools_dir/venv/bin/python" -m pip freeze --exclude-editable | grep -v -i -E '^(torch|mal|nvidia-[a-z0-9-]+|triton)(==| @)' | LC_ALL=C sort -f
} > "$tools_dir/constraints.txt.tmp"
mv "$tools_dir/constraints.txt.tmp" "$tools_dir/constraints.txt"
echo "wrote $tools_dir/constraints.txt ($(grep -c '==' "$tools_dir/constraints.txt") pins)"
