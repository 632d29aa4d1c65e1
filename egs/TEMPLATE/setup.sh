#!/usr/bin/env bash
# Create a new recipe for your corpus:  egs/TEMPLATE/setup.sh egs/<corpus>
# It links the shared pipeline (mal.sh), utils/ and path.sh, copies cmd.sh, conf/ and a
# local/data.sh skeleton to fill in, and writes a short run.sh.
set -euo pipefail
[ $# -eq 1 ] || { echo "Usage: $0 egs/<new_corpus>" >&2; exit 1; }
template=$(cd "$(dirname "$0")" && pwd)
target=$1
[ -e "${target}" ] && { echo "$0: ${target} already exists; choose a new directory" >&2; exit 1; }
mkdir -p "${target}/local"
target=$(cd "${target}" && pwd)
rel=$(python3 -c 'import os,sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "${template}" "${target}")
ln -s "${rel}/mal.sh" "${target}/mal.sh"
ln -s "${rel}/path.sh" "${target}/path.sh"
ln -s "${rel}/../../utils" "${target}/utils"
cp "${template}/cmd.sh" "${target}/cmd.sh"
cp -r "${template}/conf" "${target}/conf"
cp "${template}/local/data.sh" "${target}/local/data.sh"
cp "${template}/run.sh" "${target}/run.sh"
chmod +x "${target}/run.sh" "${target}/local/data.sh"
echo "Created ${target}. Next: fill in ${target}/local/data.sh, then cd ${target} && ./run.sh"
