#!/usr/bin/env bash
# Stage 1 of egs/mini_offline: build data/{train,valid,test,test_ood,test_real,test_ambient,test_colored}
# offline (no download), and the pools that training mixes from on the fly: data/train_noise and data/train_rir.
#
# Clean speech (speakers never cross sets):
#   real recorded: ktuberling-data words (one native speaker per wideband language) and
#     hedgewars-data voice packs (one actor each), 2-5 clips joined per utterance;
#   synthetic: flite voices (pitch x rate x vocal-tract warp) and espeak-ng voices (accent x variant
#     x speed x pitch) speaking 5-11 word lines of Debian 'fortunes'.
#   train/valid/test: 40% real, 35% flite, 25% espeak-ng; test_ood: Festival voices (a synthesizer
#   training never hears); test_real: six real speakers held out of everything else; test_ambient and
#   test_colored: the same six speakers (the same utterances in both sets), SNR uniform 0-20 dB.
# Noise: train/valid/test: music, machinery, battle, effects, weapons (recorded, Debian game and
#   sound packages), babble, white, pink, brown, hum; test_ood: alerts, horns (recorded), siren;
#   test_real: nature, vehicles, radio, footsteps (recorded): kinds no other set has;
#   test_ambient: engine, fan, pumps, wind, water, fire, night, city (recorded everyday ambiences from
#   ufoai-sound and btanks-data, packages no other set or pool reads); test_colored: stationary
#   Gaussian noise under a random smooth spectral envelope per utterance.
# Rooms: pyroomacoustics shoebox RIRs on --reverb_share of valid/test/test_ood (train: by dynamic
#   mixing, conf/*.yaml); none in test_real, test_ambient, test_colored. SNR uniform in
#   [snr_low, snr_high] (test_ambient, test_colored: 0-20 dB), speech level -35..-15 dBFS, 16 kHz
#   mono PCM-16, no clipping. Never read: asterisk-core-sounds-* (kept for independent checks).
# Per set (sorted): wav.scp (noisy) spk1.scp (clean) noise1.scp utt2spk spk2utt utt2num_samples
# utt2category (noise kind) utt2snr (dB) utt2room, and text where every utterance is synthetic.
# Idempotent: a set whose marker (data/<set>/.done, written last) matches the options is skipped;
# any other is rebuilt.
#
# Usage: local/data.sh [--num_train 1500] [--num_valid 100] [--num_test 100]
#        [--num_test_ood 100] [--num_test_real 100] [--num_test_ambient 100] [--num_test_colored 100]
#        [--seed 0] [--nj 2] [--data_dir data]
#        [--audio_dir downloads/mini_offline] [--min_words 5] [--max_words 11]
#        [--snr_low -5] [--snr_high 20] [--reverb_share 0.25] [--num_noise_clips 30]
#        [--num_train_rooms 150] [--sets train,valid,test,test_ood,test_real,test_ambient,test_colored]
#        [--large false]
set -euo pipefail

num_train=1500       # utterances per set
num_valid=100
num_test=100
num_test_ood=100
num_test_real=100
num_test_ambient=100
num_test_colored=100
seed=0               # the corpus is a pure function of the options and this seed
nj=2                 # parallel synthesis processes
data_dir=data        # Kaldi data dirs go to <data_dir>/<set>
audio_dir=downloads/mini_offline  # wavs go to <audio_dir>/<set>/{noisy,clean,noise}
min_words=5          # sentence length range (words); 5-11 words gives mostly 2-4 s
max_words=11
snr_low=-5           # SNR range (dB) of the mixtures
snr_high=20
reverb_share=0.25    # share of valid/test/test_ood utterances in a simulated room
num_noise_clips=30   # dynamic-mixing noise pool: clips per training noise kind
num_train_rooms=150  # dynamic-mixing room pool
sets=train,valid,test,test_ood,test_real,test_ambient,test_colored
large=false          # also build the large training pools of run_large.sh (local/large_data.sh)
help_message=$(sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//')

# Kaldi semantics: the recipe's utils/ (run.sh's cwd), else the repository's utils/.
utils_dir=utils
[ -f "${utils_dir}/parse_options.sh" ] || utils_dir="$(dirname "$0")/../../../utils"
. "${utils_dir}/parse_options.sh"
[ $# -eq 0 ] || { echo "$0: unexpected arguments: $*" >&2; echo "${help_message}" >&2; exit 1; }

for tool in flite espeak-ng text2wave; do
    command -v "${tool}" >/dev/null || {
        echo "$0: '${tool}' not found: run tools/installers/install_audio_tools.sh (or make -C tools debian)" >&2
        exit 1
    }
done

python3 "$(dirname "$0")/make_corpus.py" \
    --num_train "${num_train}" --num_valid "${num_valid}" --num_test "${num_test}" \
    --num_test_ood "${num_test_ood}" --num_test_real "${num_test_real}" \
    --num_test_ambient "${num_test_ambient}" --num_test_colored "${num_test_colored}" --seed "${seed}" --nj "${nj}" \
    --data_dir "${data_dir}" --audio_dir "${audio_dir}" \
    --min_words "${min_words}" --max_words "${max_words}" \
    --snr_low "${snr_low}" --snr_high "${snr_high}" --reverb_share "${reverb_share}" \
    --num_noise_clips "${num_noise_clips}" --num_train_rooms "${num_train_rooms}" --sets "${sets}"

if [ "${large}" = true ]; then
    "$(dirname "$0")/large_data.sh" --data_dir "${data_dir}"
fi
