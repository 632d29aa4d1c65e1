#!/usr/bin/env bash
# Stage 1 of egs/dns_challenge: data/{train,valid,test_no_reverb,test_with_reverb} from the
# DNS Challenge (Interspeech 2020): github.com/microsoft/DNS-Challenge, branch interspeech2020/master,
# cloned with Git LFS. --db_root is the clone; it must hold datasets/clean/ (book_*_reader_<id>_<n>.wav),
# datasets/noise/, and datasets/test_set/synthetic/{no_reverb,with_reverb}/{clean,noisy}/.
#
# train/valid: mixtures synthesised by local/synthesize_mixtures.py (SNR range, level
#   normalisation, clipping handled by scaling, optional reverberation with the RIRs in
#   --rir_dir or datasets/impulse_responses/, else rooms simulated with pyroomacoustics);
#   valid uses held-out readers and noise files.
# test_no_reverb / test_with_reverb: the challenge's synthetic test sets, noisy and clean paired
#   by fileid (local/make_test_sets.py); the with_reverb reference is reverberant speech.
# All paths in the scp files are absolute, so other recipes can use these dirs as test sets.
#
# Usage: local/data.sh --db_root <clone> [--num_train 36000] [--num_valid 360]
#        [--clip_seconds 10] [--snr_low 0] [--snr_high 40] [--target_level_low -35]
#        [--target_level_high -15] [--reverb_prob 0] [--rir_dir ""] [--write_noise false]
#        [--dump_dir dump] [--data_dir data] [--seed 0] [--nj 4] [--sets test,train]
set -euo pipefail

db_root=                 # the DNS-Challenge clone (holding datasets/)
num_train=36000          # training mixtures (36000 x 10 s = 100 h)
num_valid=360            # validation mixtures (1 h)
clip_seconds=10          # mixture length in seconds
snr_low=0                # SNR range (dB) drawn uniformly (the 2020 synthesizer config: 0..40)
snr_high=40
target_level_low=-35     # mixture level range (dBFS RMS), as the challenge's synthesizer
target_level_high=-15
clean_activity_threshold=0.6  # minimum share of active frames in a clean window
valid_fraction=0.02      # share of readers and noise files held out for validation
reverb_prob=0            # probability of reverberating a training mixture's speech
rir_dir=                 # RIR wavs (default: <db_root>/datasets/impulse_responses, else simulated)
num_simulated_rirs=200   # rooms simulated with pyroomacoustics when there is no RIR folder
write_noise=false        # also write the noise of each mixture (noise1.scp; +50% disk)
sample_rate=16000
dump_dir=dump            # mixtures: <dump_dir>/{train,valid}/{noisy,clean,noise}/<utt>.wav
data_dir=data
seed=0
nj=4
sets=test,train          # train: train+valid mixtures; test: the two synthetic test sets
help_message=$(sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//')

utils_dir=utils
[ -f "${utils_dir}/parse_options.sh" ] || utils_dir="$(dirname "$0")/../../../utils"
. "${utils_dir}/parse_options.sh"
[ $# -eq 0 ] || { echo "$0: unexpected arguments: $*" >&2; echo "${help_message}" >&2; exit 1; }
[ -n "${db_root}" ] || {
    echo "$0: set --db_root to your clone of microsoft/DNS-Challenge (interspeech2020/master, with git lfs)" \
         "(in run.sh: --local_data_opts '--db_root /path')" >&2
    exit 1
}
# Run on its own (not from run.sh), it needs mal's Python environment.
python3 -c 'import mal' 2>/dev/null || . "$(dirname "$0")/../path.sh"

for s in ${sets//,/ }; do
    case "${s}" in
        test)
            python3 "$(dirname "$0")/make_test_sets.py" --db_root "${db_root}" --data_dir "${data_dir}" \
                --dump_dir "${dump_dir}" --sample_rate "${sample_rate}" ;;
        train)
            python3 "$(dirname "$0")/synthesize_mixtures.py" --db_root "${db_root}" --dump_dir "${dump_dir}" \
                --data_dir "${data_dir}" --num_train "${num_train}" --num_valid "${num_valid}" \
                --clip_seconds "${clip_seconds}" --snr_low "${snr_low}" --snr_high "${snr_high}" \
                --target_level_low "${target_level_low}" --target_level_high "${target_level_high}" \
                --clean_activity_threshold "${clean_activity_threshold}" --valid_fraction "${valid_fraction}" \
                --reverb_prob "${reverb_prob}" --rir_dir "${rir_dir}" --num_simulated_rirs "${num_simulated_rirs}" \
                --write_noise "${write_noise}" --sample_rate "${sample_rate}" --seed "${seed}" --nj "${nj}" ;;
        *) echo "$0: --sets: unknown set '${s}' (train, test)" >&2; exit 1 ;;
    esac
done
