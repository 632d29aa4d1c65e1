#!/usr/bin/env bash
# Stage 1 of egs/mini_offline: build data/{train,valid,test,test_ood} offline (no download).
#
# Clean speech: synthetic speakers. train/valid/test: flite voices (kal, kal16, awb, rms, slt)
# at several pitches, speaking rates and vocal-tract warps (195 "speakers", dealt disjointly to
# the sets); test_ood: espeak-ng accents/variants/speeds/pitches that training never hears.
# Text: plain 5-20 word sentences from the Debian 'fortunes' package (disjoint per set).
# Noise: train/valid/test: music (recorded), babble, white, pink, brown, hum;
#        test_ood: alerts (recorded), chatter (recorded human voice), siren.
# Mixtures at SNRs drawn uniformly from [snr_low, snr_high], 16 kHz mono PCM-16, no clipping.
# Per set (sorted): wav.scp (noisy) spk1.scp (clean) noise1.scp utt2spk spk2utt text
# utt2num_samples utt2category (noise kind) utt2snr (dB). Idempotent: a set whose marker
# (data/<set>/.done, written last) matches the options is skipped; any other is rebuilt.
#
# Usage: local/data.sh [--num_train 1500] [--num_valid 100] [--num_test 100]
#        [--num_test_ood 100] [--seed 0] [--nj 2] [--data_dir data]
#        [--audio_dir downloads/mini_offline] [--min_words 5] [--max_words 11]
#        [--snr_low -5] [--snr_high 15] [--sets train,valid,test,test_ood]
set -euo pipefail

num_train=1500       # utterances per set
num_valid=100
num_test=100
num_test_ood=100
seed=0               # the corpus is a pure function of the options and this seed
nj=2                 # parallel synthesis processes
data_dir=data        # Kaldi data dirs go to <data_dir>/<set>
audio_dir=downloads/mini_offline  # wavs go to <audio_dir>/<set>/{noisy,clean,noise}
min_words=5          # sentence length range (words); 5-11 words gives mostly 2-4 s
max_words=11
snr_low=-5           # SNR range (dB) of the mixtures
snr_high=15
sets=train,valid,test,test_ood
help_message=$(sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//')

# Kaldi semantics: the recipe's utils/ (run.sh's cwd), else the repository's utils/.
utils_dir=utils
[ -f "${utils_dir}/parse_options.sh" ] || utils_dir="$(dirname "$0")/../../../utils"
. "${utils_dir}/parse_options.sh"
[ $# -eq 0 ] || { echo "$0: unexpected arguments: $*" >&2; echo "${help_message}" >&2; exit 1; }

for tool in flite espeak-ng; do
    command -v "${tool}" >/dev/null || {
        echo "$0: '${tool}' not found: run tools/installers/install_audio_tools.sh (or make -C tools debian)" >&2
        exit 1
    }
done

python3 "$(dirname "$0")/make_corpus.py" \
    --num_train "${num_train}" --num_valid "${num_valid}" --num_test "${num_test}" \
    --num_test_ood "${num_test_ood}" --seed "${seed}" --nj "${nj}" \
    --data_dir "${data_dir}" --audio_dir "${audio_dir}" \
    --min_words "${min_words}" --max_words "${max_words}" \
    --snr_low "${snr_low}" --snr_high "${snr_high}" --sets "${sets}"
