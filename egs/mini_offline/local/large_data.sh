#!/usr/bin/env bash
# The large training pools of run_large.sh (issue 26), from Debian packages, offline:
#   data/noise_large/pool_{train,valid,test}  recorded noise and music (local/make_noise_pool.py)
#   data/speech_large/{train,valid,test}      real read and acted speech (local/make_speech_pool.py)
#   data/train_large        the corpus's training speech (data/train) + data/speech_large/train
#   data/noise_train_large  the corpus's noise pool (data/train_noise) + data/noise_large/pool_train
#   data/noise_pool_long    the corpus's noise pool + the pool's clips of >= 3 s, one kind per package
#                           and one for music (local/group_noise.py; the kinds drawn are then balanced)
#   data/valid_pool         valid's utterances over held-out pool clips (local/make_valid_pool.py)
# Needs data/train and data/train_noise (local/data.sh) and the packages (make -C tools noise_pool
# speech_pool). The extracted clips are cached outside git (${MAL_CACHE:-~/.cache/mal}); a re-run
# reuses every package already extracted and only rewrites the data dirs (seconds).
set -euo pipefail
data_dir=data
help_message="Usage: local/large_data.sh [--data_dir data]"
utils_dir=utils
[ -f "${utils_dir}/parse_options.sh" ] || utils_dir="$(dirname "$0")/../../../utils"
. "${utils_dir}/parse_options.sh"
[ $# -eq 0 ] || { echo "$0: unexpected arguments: $*" >&2; echo "${help_message}" >&2; exit 1; }
for dir in train train_noise; do
    [ -f "${data_dir}/${dir}/wav.scp" ] || { echo "$0: ${data_dir}/${dir} not built: run local/data.sh first" >&2; exit 1; }
done
here=$(dirname "$0")
python3 "${here}/make_noise_pool.py" --out "${data_dir}/noise_large"
python3 "${here}/make_speech_pool.py" --out "${data_dir}/speech_large"
"${utils_dir}/combine_data.sh" "${data_dir}/train_large" "${data_dir}/train" "${data_dir}/speech_large/train"
"${utils_dir}/combine_data.sh" "${data_dir}/noise_train_large" "${data_dir}/noise_large/pool_train" "${data_dir}/train_noise"
python3 "${here}/group_noise.py" --in "${data_dir}/noise_large/pool_train" --out "${data_dir}/noise_large/pool_train_long" \
    --min-seconds 3 --group source
"${utils_dir}/combine_data.sh" "${data_dir}/noise_pool_long" "${data_dir}/train_noise" "${data_dir}/noise_large/pool_train_long"
if [ -f "${data_dir}/valid/spk1.scp" ]; then
    python3 "${here}/make_valid_pool.py" --speech "${data_dir}/valid" --noise "${data_dir}/noise_large/pool_valid" \
        --out "${data_dir}/valid_pool"
fi
