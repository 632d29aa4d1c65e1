#!/usr/bin/env bash
# Download VoiceBank+DEMAND (Valentini-Botinhao, Edinburgh DataShare, doi:10.7488/ds/2117) into a
# folder and unzip it into the layout local/prepare_voicebank.py reads.
#
# Usage: local/download.sh [--trainset 28spk] [--text true] <db_root>
# Needs wget or curl, and unzip. Interrupted downloads resume (wget -c / curl -C -); zips that
# are already unpacked are skipped. The zips take several GB; delete them after unpacking.
set -euo pipefail
trainset=28spk
text=true
base_url=https://datashare.ed.ac.uk/bitstream/handle/10283/2791
help_message=$(sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//')

utils_dir=utils
[ -f "${utils_dir}/parse_options.sh" ] || utils_dir="$(dirname "$0")/../../../utils"
. "${utils_dir}/parse_options.sh"
[ $# -eq 1 ] || { echo "${help_message}" >&2; exit 1; }
db_root=$1

names=("clean_trainset_${trainset}_wav" "noisy_trainset_${trainset}_wav" clean_testset_wav noisy_testset_wav)
[ "${text}" = true ] && names+=("trainset_${trainset}_txt" testset_txt)
command -v unzip >/dev/null || { echo "$0: unzip not found (apt-get install unzip)" >&2; exit 1; }
if command -v wget >/dev/null; then fetch() { wget -c -O "$2" "$1"; }
elif command -v curl >/dev/null; then fetch() { curl -fL -C - -o "$2" "$1"; }
else echo "$0: neither wget nor curl found" >&2; exit 1; fi

mkdir -p "${db_root}"
for name in "${names[@]}"; do
    if [ -d "${db_root}/${name}" ]; then
        echo "$0: ${db_root}/${name} exists; skipping"
        continue
    fi
    zip="${db_root}/${name}.zip"
    echo "$0: downloading ${base_url}/${name}.zip"
    fetch "${base_url}/${name}.zip" "${zip}" || { echo "$0: download of ${name}.zip failed (rerun to resume)" >&2; exit 1; }
    tmp="${db_root}/.unzip_${name}"
    rm -rf "${tmp}"
    unzip -q "${zip}" -d "${tmp}" || { echo "$0: ${zip} is not a valid zip (delete it and rerun)" >&2; exit 1; }
    # The files may sit at the top of the zip or in one folder: move that folder into place.
    first=$(find "${tmp}" -path '*/__MACOSX' -prune -o -type f \( -name '*.wav' -o -name '*.txt' \) -print | head -n 1)
    [ -n "${first}" ] || { echo "$0: ${zip} holds no .wav/.txt files" >&2; exit 1; }
    mv "$(dirname "${first}")" "${db_root}/${name}"
    rm -rf "${tmp}"
    echo "$0: unpacked ${db_root}/${name} ($(ls "${db_root}/${name}" | wc -l) files)"
done
echo "$0: done; the zips in ${db_root} can be deleted"
